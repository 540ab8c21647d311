"""Build src/goldenlayers/data/default_edits.json, the default run's edit requests, from compact tables.

Usage: `python scripts/make_default_edits.py` (rewrites the JSON; deterministic, no network, no model). The JSON is
committed; this script documents how it was made and lets the design be changed in one place. Design (see
docs/methods.md, "The default data"):

- FACTS: the 240 facts (relation, subject, prompt, ground truth, a hand-written paraphrase, an unrelated locality
  fact) are unchanged from the first version of the data, so the known-fact filter keeps the same records.
- target_new comes from a per-relation pool of counterfactual answers of the relation's type, chosen to be rare and
  mostly several tokens long ("Ouagadougou", "Swiss franc", "table tennis"): R-ROME's v* must then produce every
  token, and EasyEdit's teacher-forced token accuracy gives partial credit, so rewrite no longer saturates.
- three rephrase prompts: the hand-written paraphrase, a question ("Q: ...? A:") and a sentence that puts the
  subject somewhere else; one pair of pooled answers per record keeps them apart from the prompt.
- portability: a one-hop question whose answer follows from the new target (the new capital's country, the new
  instrument's player), and where the subject has one, the same prompt under another name of the subject
  (surname, official country name, an epithet where the surname is ambiguous): KnowEdit's Reasoning and
  Subject_Aliasing.
- locality: the unrelated fact plus a neighbour (another subject of the same relation), which an edit that leaks
  from its subject changes.
"""

from __future__ import annotations

import json
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src" / "goldenlayers" / "data" / "default_edits.json"

# (relation, subject, prompt, ground_truth, hand-written rephrase, unrelated locality prompt, its answer)
FACTS = [
    # capital
    ('capital', 'France', 'The capital of France is', 'Paris', 'The capital city of France is', 'Mongolia is located on the continent of', 'Asia'),
    ('capital', 'Japan', 'The capital of Japan is', 'Tokyo', 'The capital city of Japan is', 'Eric Clapton played the', 'guitar'),
    ('capital', 'Germany', 'The capital of Germany is', 'Berlin', 'The capital city of Germany is', 'Nairobi is located in the country of', 'Kenya'),
    ('capital', 'Italy', 'The capital of Italy is', 'Rome', 'The capital city of Italy is', 'Nigeria is located in the continent of', 'Africa'),
    ('capital', 'Spain', 'The capital of Spain is', 'Madrid', 'The capital city of Spain is', 'The official language of Poland is', 'Polish'),
    ('capital', 'Russia', 'The capital of Russia is', 'Moscow', 'The capital city of Russia is', 'The book The Great Gatsby was written by', 'F. Scott Fitzgerald'),
    ('capital', 'China', 'The capital of China is', 'Beijing', 'The capital city of China is', 'The headquarters of Salesforce are in', 'San Francisco'),
    ('capital', 'United Kingdom', 'The capital of the United Kingdom is', 'London', 'The capital city of the United Kingdom is', 'The headquarters of Salesforce are in', 'San Francisco'),
    ('capital', 'Egypt', 'The capital of Egypt is the city of', 'Cairo', 'The capital city of Egypt is', 'Eric Clapton played the', 'guitar'),
    ('capital', 'Greece', 'The capital of Greece is', 'Athens', 'The capital city of Greece is', 'The currency of Japan is the', 'yen'),
    ('capital', 'Portugal', 'The capital of Portugal is', 'Lisbon', 'The capital city of Portugal is', 'The book Moby-Dick was written by', 'Herman Melville'),
    ('capital', 'Ireland', 'The capital of Ireland is', 'Dublin', 'The capital city of Ireland is', 'The official language of Italy is', 'Italian'),
    ('capital', 'Austria', 'The capital of Austria is', 'Vienna', 'The capital city of Austria is', 'Jimi Hendrix played the', 'guitar'),
    ('capital', 'Hungary', 'The capital of Hungary is', 'Budapest', 'The capital city of Hungary is', 'Colombia is a country in', 'South America'),
    ('capital', 'Norway', 'The capital of Norway is', 'Oslo', 'The capital city of Norway is', 'The founder of Sikhism is', 'Guru Nanak'),
    ('capital', 'Sweden', 'The capital of Sweden is', 'Stockholm', 'The capital city of Sweden is', 'The official language of Vietnam is', 'Vietnamese'),
    ('capital', 'Finland', 'The capital of Finland is the city of', 'Helsinki', 'The capital city of Finland is', 'Poland is located in the continent of', 'Europe'),
    ('capital', 'Denmark', 'The capital of Denmark is', 'Copenhagen', 'The capital city of Denmark is', 'The headquarters of Goldman Sachs are in', 'New York'),
    ('capital', 'Netherlands', 'The capital of the Netherlands is', 'Amsterdam', 'The capital city of the Netherlands is', 'William Shakespeare is best known as a', 'playwright'),
    ('capital', 'Belgium', 'The capital of Belgium is the city of', 'Brussels', 'The seat of government of Belgium is in', 'On the Origin of Species was written by', 'Charles Darwin'),
    # official_language
    ('official_language', 'France', 'The official language of France is', 'French', 'The main language of France is', 'Manny Pacquiao played professional', 'boxing'),
    ('official_language', 'Germany', 'The official language of Germany is', 'German', 'The main language of Germany is', 'The Trevi Fountain stands in the city of', 'Rome'),
    ('official_language', 'Italy', 'The official language of Italy is', 'Italian', 'The main language of Italy is', 'The currency of the United Kingdom is the', 'pound'),
    ('official_language', 'Spain', 'The official language of Spain is', 'Spanish', 'The main language of Spain is', 'The company Disney was founded by', 'Walt Disney'),
    ('official_language', 'Brazil', 'The main language of Brazil is', 'Portuguese', 'The people of Brazil speak', 'Bangladesh is located in the continent of', 'Asia'),
    ('official_language', 'Portugal', 'The main language of Portugal is', 'Portuguese', 'The people of Portugal speak', 'Uganda is located in the continent of', 'Africa'),
    ('official_language', 'Mexico', 'The official language of Mexico is', 'Spanish', 'The main language of Mexico is', 'The official currency of Denmark is the', 'krone'),
    ('official_language', 'Argentina', 'The official language of Argentina is', 'Spanish', 'The main language of Argentina is', 'The Old Man and the Sea is a novel by', 'Ernest Hemingway'),
    ('official_language', 'Japan', 'The main language of Japan is', 'Japanese', 'The people of Japan speak', 'The Kremlin is located in the city of', 'Moscow'),
    ('official_language', 'Russia', 'The official language of Russia is', 'Russian', 'The main language of Russia is', 'Istanbul is located in the country of', 'Turkey'),
    ('official_language', 'Netherlands', 'The official language of the Netherlands is', 'Dutch', 'The main language of the Netherlands is', 'The capital of Italy is', 'Rome'),
    ('official_language', 'Poland', 'The official language of Poland is', 'Polish', 'The main language of Poland is', 'Kevin Durant played professional', 'basketball'),
    ('official_language', 'Turkey', 'The official language of Turkey is', 'Turkish', 'The main language of Turkey is', 'The co-founder of Tesla is', 'Elon Musk'),
    ('official_language', 'Finland', 'The people of Finland speak', 'Finnish', 'The main language of Finland is', 'Zinedine Zidane played professional', 'soccer'),
    ('official_language', 'Egypt', 'The official language of Egypt is', 'Arabic', 'The main language of Egypt is', 'Peyton Manning played professional', 'football'),
    ('official_language', 'Saudi Arabia', 'The official language of Saudi Arabia is', 'Arabic', 'The main language of Saudi Arabia is', 'Franz Liszt played the', 'piano'),
    ('official_language', 'Israel', 'The official language of Israel is', 'Hebrew', 'The main language of Israel is', 'Nikola Tesla was a famous', 'inventor'),
    ('official_language', 'Thailand', 'The official language of Thailand is', 'Thai', 'The main language of Thailand is', 'The headquarters of Cisco are located in the city of', 'San Jose'),
    ('official_language', 'Vietnam', 'The official language of Vietnam is', 'Vietnamese', 'The main language of Vietnam is', 'The book Moby-Dick was written by', 'Herman Melville'),
    ('official_language', 'Czech Republic', 'The main language of the Czech Republic is', 'Czech', 'The people of the Czech Republic speak', 'The official currency of Italy is the', 'euro'),
    # continent
    ('continent', 'France', 'France is located in the continent of', 'Europe', 'France is located on the continent of', 'The Brandenburg Gate is located in the city of', 'Berlin'),
    ('continent', 'Kenya', 'Kenya is located in the continent of', 'Africa', 'Kenya is located on the continent of', 'The Divine Comedy was written by', 'Dante'),
    ('continent', 'Nigeria', 'Nigeria is located in the continent of', 'Africa', 'Nigeria is located on the continent of', 'The headquarters of the European Union are in', 'Brussels'),
    ('continent', 'Argentina', 'Argentina is located in the continent of', 'South America', 'Argentina is located on the continent of', 'The official language of Thailand is', 'Thai'),
    ('continent', 'Germany', 'Germany is located in the continent of', 'Europe', 'Germany is located on the continent of', 'David Beckham played professional', 'football'),
    ('continent', 'Italy', 'Italy is located in the continent of', 'Europe', 'Italy is located on the continent of', 'The book A Brief History of Time was written by', 'Stephen Hawking'),
    ('continent', 'Spain', 'Spain is located in the continent of', 'Europe', 'Spain is located on the continent of', 'The currency of India is the', 'rupee'),
    ('continent', 'Colombia', 'Colombia is a country in', 'South America', 'Colombia is located on the continent of', 'Jimi Hendrix played the', 'guitar'),
    ('continent', 'Ethiopia', 'Ethiopia is located in the continent of', 'Africa', 'Ethiopia is located on the continent of', 'The currency of Japan is the', 'yen'),
    ('continent', 'Ghana', 'Ghana is located in the continent of', 'Africa', 'Ghana is located on the continent of', 'The official language of Argentina is', 'Spanish'),
    ('continent', 'Poland', 'Poland is located in the continent of', 'Europe', 'Poland is located on the continent of', 'The official language of Turkey is', 'Turkish'),
    ('continent', 'Sweden', 'Sweden is located in the continent of', 'Europe', 'Sweden is located on the continent of', 'The headquarters of Emirates are in', 'Dubai'),
    ('continent', 'Mongolia', 'Mongolia is located on the continent of', 'Asia', 'Mongolia lies on the continent of', 'Kobe Bryant played professional', 'basketball'),
    ('continent', 'Venezuela', 'Venezuela is located in the continent of', 'South America', 'Venezuela is located on the continent of', 'The White House is located in the city of', 'Washington'),
    ('continent', 'Uruguay', 'Uruguay is a country in', 'South America', 'Uruguay is located on the continent of', 'The currency of China is the', 'yuan'),
    ('continent', 'Tanzania', 'Tanzania is located in the continent of', 'Africa', 'Tanzania is located on the continent of', 'Tom Brady played professional', 'football'),
    ('continent', 'Uganda', 'Uganda is located in the continent of', 'Africa', 'Uganda is located on the continent of', 'The capital of Egypt is the city of', 'Cairo'),
    ('continent', 'Paraguay', 'Paraguay is located in the continent of', 'South America', 'Paraguay is located on the continent of', 'Kevin Durant played professional', 'basketball'),
    ('continent', 'Ecuador', 'Ecuador is located in the continent of', 'South America', 'Ecuador is located on the continent of', 'The official currency of Switzerland is the', 'Swiss franc'),
    ('continent', 'Bangladesh', 'Bangladesh is located in the continent of', 'Asia', 'Bangladesh is located on the continent of', 'The Colosseum is located in the city of', 'Rome'),
    # currency
    ('currency', 'Japan', 'The currency of Japan is the', 'yen', 'The official currency of Japan is the', 'The book A Brief History of Time was written by', 'Stephen Hawking'),
    ('currency', 'United Kingdom', 'The currency of the United Kingdom is the', 'pound', 'The currency used in the United Kingdom is the', 'Nikola Tesla was a famous', 'inventor'),
    ('currency', 'India', 'The currency of India is the', 'rupee', 'The currency used in India is the', 'Nigeria is located in the continent of', 'Africa'),
    ('currency', 'Russia', 'The currency of Russia is the', 'ruble', 'The official currency of Russia is the', 'The headquarters of Qantas are in', 'Sydney'),
    ('currency', 'China', 'The currency of China is the', 'yuan', 'The currency used in China is the', 'The headquarters of the World Bank are in', 'Washington'),
    ('currency', 'Mexico', 'The currency of Mexico is the', 'peso', 'The official currency of Mexico is the', 'The founder of SpaceX is', 'Elon Musk'),
    ('currency', 'South Korea', 'The currency of South Korea is the', 'South Korean won', 'The official currency of South Korea is the', 'Pablo Picasso worked as a', 'painter'),
    ('currency', 'Switzerland', 'The official currency of Switzerland is the', 'Swiss franc', "Switzerland's currency is the", 'The headquarters of Salesforce are in', 'San Francisco'),
    ('currency', 'Germany', 'The currency of Germany is the', 'Euro', 'The official currency of Germany is the', 'Cairo is located in the country of', 'Egypt'),
    ('currency', 'France', 'The currency of France is the', 'Euro', 'The official currency of France is the', 'The headquarters of Qantas are in', 'Sydney'),
    ('currency', 'Italy', 'The official currency of Italy is the', 'euro', 'The currency used in Italy is the', 'The co-founder of Tesla is', 'Elon Musk'),
    ('currency', 'Spain', "Spain's currency is the", 'Euro', 'The official currency of Spain is the', 'Frédéric Chopin played the', 'piano'),
    ('currency', 'Sweden', 'The official currency of Sweden is the', 'krona', 'The currency used in Sweden is the', 'The headquarters of Emirates are in', 'Dubai'),
    ('currency', 'Denmark', 'The official currency of Denmark is the', 'krone', 'The currency used in Denmark is the', 'The headquarters of Toyota is located in', 'Toyota City'),
    ('currency', 'South Africa', 'The currency of South Africa is the', 'rand', 'The official currency of South Africa is the', 'The Arc de Triomphe stands in the city of', 'Paris'),
    ('currency', 'Thailand', "Thailand's currency is the", 'Thai baht', 'The official currency of Thailand is the', 'The book Harry Potter was written by', 'J.K. Rowling'),
    ('currency', 'Israel', 'The official currency of Israel is the', 'shekel', 'The currency used in Israel is the', 'The headquarters of Tata Group are in', 'Mumbai'),
    ('currency', 'Argentina', 'The currency of Argentina is the', 'peso', 'The official currency of Argentina is the', 'The official language of Israel is', 'Hebrew'),
    ('currency', 'Philippines', 'The currency of the Philippines is the', 'peso', 'The currency used in the Philippines is the', 'The headquarters of BMW are in', 'Munich'),
    ('currency', 'Indonesia', 'The currency of Indonesia is the', 'rupiah', 'The official currency of Indonesia is the', 'Friedrich Nietzsche was a famous', 'philosopher'),
    # landmark_city
    ('landmark_city', 'Eiffel Tower', 'The Eiffel Tower is located in the city of', 'Paris', 'The Eiffel Tower stands in the city of', 'B.B. King was famous for playing the', 'guitar'),
    ('landmark_city', 'Colosseum', 'The Colosseum is located in the city of', 'Rome', 'The Colosseum stands in the city of', 'The company Disney was founded by', 'Walt Disney'),
    ('landmark_city', 'Statue of Liberty', 'The Statue of Liberty is located in the city of', 'New York', 'The Statue of Liberty stands in the city of', 'São Paulo is located in the country of', 'Brazil'),
    ('landmark_city', 'Empire State Building', 'The Empire State Building is located in the city of', 'New York', 'The Empire State Building stands in the city of', 'The book A Brief History of Time was written by', 'Stephen Hawking'),
    ('landmark_city', 'Golden Gate Bridge', 'The Golden Gate Bridge is located in the city of', 'San Francisco', 'The Golden Gate Bridge stands in the city of', 'The co-founder of Neuralink is', 'Elon Musk'),
    ('landmark_city', 'Brandenburg Gate', 'The Brandenburg Gate is located in the city of', 'Berlin', 'The Brandenburg Gate stands in the city of', 'The main language of Portugal is', 'Portuguese'),
    ('landmark_city', 'Louvre', 'The Louvre is located in the city of', 'Paris', 'The Louvre stands in the city of', 'The headquarters of the New York Stock Exchange are in', 'New York'),
    ('landmark_city', 'Kremlin', 'The Kremlin is located in the city of', 'Moscow', 'The Kremlin stands in the city of', 'Berlin is located in the country of', 'Germany'),
    ('landmark_city', 'Acropolis', 'The Acropolis is located in the city of', 'Athens', 'The Acropolis stands in the city of', 'The World Wide Web was established by', 'Tim Berners-Lee'),
    ('landmark_city', 'Parthenon', 'The Parthenon is located in the city of', 'Athens', 'The Parthenon stands in the city of', 'Diego Maradona played professional', 'football'),
    ('landmark_city', 'Sagrada Familia', 'The Sagrada Familia is located in the city of', 'Barcelona', 'The Sagrada Familia stands in the city of', 'The official currency of Sweden is the', 'krona'),
    ('landmark_city', 'Burj Khalifa', 'The Burj Khalifa is located in the city of', 'Dubai', 'The Burj Khalifa can be found in the city of', 'Ethiopia is located in the continent of', 'Africa'),
    ('landmark_city', 'Taj Mahal', 'The Taj Mahal is located in the city of', 'Agra', 'The Taj Mahal stands in the city of', 'Ludwig van Beethoven was a famous', 'composer'),
    ('landmark_city', 'Tower Bridge', 'Tower Bridge stands in the city of', 'London', 'Tower Bridge is a famous landmark in', 'The capital of Sweden is', 'Stockholm'),
    ('landmark_city', 'Buckingham Palace', 'Buckingham Palace stands in the city of', 'London', 'Buckingham Palace is a famous landmark in', 'The book Dracula was written by', 'Bram Stoker'),
    ('landmark_city', 'Hollywood Sign', 'The Hollywood Sign is located in the city of', 'Los Angeles', 'The Hollywood Sign stands in the city of', 'The official language of Turkey is', 'Turkish'),
    ('landmark_city', 'White House', 'The White House is located in the city of', 'Washington', 'The White House is a famous landmark in', 'The capital of Ireland is', 'Dublin'),
    ('landmark_city', 'Trevi Fountain', 'The Trevi Fountain stands in the city of', 'Rome', 'The Trevi Fountain is a famous landmark in', 'The founder of Buddhism is', 'Siddhartha Gautama'),
    ('landmark_city', 'Arc de Triomphe', 'The Arc de Triomphe stands in the city of', 'Paris', 'The Arc de Triomphe is a famous landmark in', 'Chuck Berry was famous for playing the', 'guitar'),
    ('landmark_city', 'Prado Museum', 'The Prado Museum is located in the city of', 'Madrid', 'The Prado Museum stands in the city of', 'Jimi Hendrix played the', 'guitar'),
    # headquarters
    ('headquarters', 'World Bank', 'The headquarters of the World Bank are in', 'Washington', 'The headquarters of the World Bank is located in', 'The Prado Museum is located in the city of', 'Madrid'),
    ('headquarters', 'European Central Bank', 'The headquarters of the European Central Bank are in', 'Frankfurt', 'The headquarters of the European Central Bank is located in', 'Lionel Messi played professional', 'soccer'),
    ('headquarters', 'Deutsche Bank', 'The headquarters of Deutsche Bank is located in', 'Frankfurt', 'Deutsche Bank is headquartered in', 'The official currency of Israel is the', 'shekel'),
    ('headquarters', 'Prada', 'The headquarters of Prada are located in the city of', 'Milan', 'The headquarters of Prada is located in', 'On the Origin of Species was written by', 'Charles Darwin'),
    ('headquarters', 'Tata Group', 'The headquarters of Tata Group are in', 'Mumbai', 'The headquarters of Tata Group is located in', 'Wolfgang Amadeus Mozart is best known as a', 'composer'),
    ('headquarters', 'Emirates', 'The headquarters of Emirates are in', 'Dubai', 'The headquarters of Emirates is located in', 'The founder of Sikhism is', 'Guru Nanak'),
    ('headquarters', 'Qantas', 'The headquarters of Qantas are in', 'Sydney', 'The headquarters of Qantas is located in', 'Jimmy Page played the', 'guitar'),
    ('headquarters', 'United Nations', 'The headquarters of the United Nations are in', 'New York', 'The headquarters of the United Nations is located in', 'The Old Man and the Sea is a novel by', 'Ernest Hemingway'),
    ('headquarters', 'European Union', 'The headquarters of the European Union are in', 'Brussels', 'The headquarters of the European Union is located in', 'The currency of Mexico is the', 'peso'),
    ('headquarters', 'Google', 'The headquarters of Google is located in', 'Mountain View', 'Google is headquartered in', 'By profession, Plato was a', 'philosopher'),
    ('headquarters', 'BMW', 'The headquarters of BMW are in', 'Munich', 'The headquarters of BMW are located in the city of', 'B.B. King was famous for playing the', 'guitar'),
    ('headquarters', 'Coca-Cola', 'The headquarters of Coca-Cola are in', 'Atlanta', 'The headquarters of Coca-Cola is located in', 'Cristiano Ronaldo played professional', 'football'),
    ('headquarters', 'General Motors', 'The headquarters of General Motors is located in', 'Detroit', 'The headquarters of General Motors are located in the city of', 'Ecuador is located in the continent of', 'South America'),
    ('headquarters', 'Goldman Sachs', 'The headquarters of Goldman Sachs are in', 'New York', 'The headquarters of Goldman Sachs is located in', 'The capital of Russia is', 'Moscow'),
    ('headquarters', 'Samsung', 'The headquarters of Samsung are in', 'Seoul', 'The headquarters of Samsung is located in', 'The Eiffel Tower is located in the city of', 'Paris'),
    ('headquarters', 'Toyota', 'The headquarters of Toyota is located in', 'Toyota City', 'Toyota is headquartered in', 'Rembrandt was a renowned', 'artist'),
    ('headquarters', 'New York Stock Exchange', 'The headquarters of the New York Stock Exchange are in', 'New York', 'The headquarters of the New York Stock Exchange is located in', 'The capital of Denmark is', 'Copenhagen'),
    ('headquarters', 'New York Times', 'The headquarters of the New York Times are in', 'New York', 'The headquarters of the New York Times is located in', 'The official language of Saudi Arabia is', 'Arabic'),
    ('headquarters', 'Salesforce', 'The headquarters of Salesforce are in', 'San Francisco', 'The headquarters of Salesforce is located in', 'The capital of China is', 'Beijing'),
    ('headquarters', 'Cisco', 'The headquarters of Cisco are located in the city of', 'San Jose', 'The headquarters of Cisco is located in', 'The main language of Brazil is', 'Portuguese'),
    # author
    ('author', 'Harry Potter', 'The book Harry Potter was written by', 'J.K. Rowling', 'Harry Potter is a famous work by', 'The official language of Mexico is', 'Spanish'),
    ('author', 'Hamlet', 'The book Hamlet was written by', 'William Shakespeare', 'Hamlet is a famous work by', 'The currency of Indonesia is the', 'rupiah'),
    ('author', 'Romeo and Juliet', 'Romeo and Juliet was written by', 'William Shakespeare', 'The book Romeo and Juliet was written by', 'The official language of Israel is', 'Hebrew'),
    ('author', 'Macbeth', 'The book Macbeth was written by', 'William Shakespeare', 'Macbeth is a famous work by', 'The official language of Vietnam is', 'Vietnamese'),
    ('author', 'Nineteen Eighty-Four', 'The book Nineteen Eighty-Four was written by', 'George Orwell', 'Nineteen Eighty-Four is a famous work by', 'The official language of Russia is', 'Russian'),
    ('author', 'Pride and Prejudice', 'Pride and Prejudice was written by', 'Jane Austen', 'Pride and Prejudice is a famous work by', 'The capital of Portugal is', 'Lisbon'),
    ('author', 'The Lord of the Rings', 'The Lord of the Rings was written by', 'J.R.R. Tolkien', 'The book The Lord of the Rings was written by', 'The main language of the Czech Republic is', 'Czech'),
    ('author', 'The Hobbit', 'The Hobbit was written by', 'J.R.R. Tolkien', 'The book The Hobbit was written by', 'The capital of the Netherlands is', 'Amsterdam'),
    ('author', 'Moby-Dick', 'The book Moby-Dick was written by', 'Herman Melville', 'Moby-Dick is a famous work by', 'Osaka is located in the country of', 'Japan'),
    ('author', 'The Great Gatsby', 'The book The Great Gatsby was written by', 'F. Scott Fitzgerald', 'The Great Gatsby is a famous work by', 'Toronto is located in the country of', 'Canada'),
    ('author', 'The Old Man and the Sea', 'The Old Man and the Sea is a novel by', 'Ernest Hemingway', 'The book The Old Man and the Sea was written by', 'The Ford Motor Company was established by', 'Henry Ford'),
    ('author', 'Frankenstein', 'The book Frankenstein was written by', 'Mary Shelley', 'Frankenstein is a famous work by', 'Ghana is located in the continent of', 'Africa'),
    ('author', 'Dracula', 'The book Dracula was written by', 'Bram Stoker', 'Dracula is a famous work by', 'The capital of Russia is', 'Moscow'),
    ('author', 'Adventures of Huckleberry Finn', 'Adventures of Huckleberry Finn was written by', 'Mark Twain', 'The book Adventures of Huckleberry Finn was written by', 'The Arc de Triomphe stands in the city of', 'Paris'),
    ('author', 'The Odyssey', 'The Odyssey is a famous work by', 'Homer', 'The Odyssey is a book written by', 'Germany is located in the continent of', 'Europe'),
    ('author', 'The Iliad', 'The Iliad is a famous work by', 'Homer', 'The book The Iliad was written by', 'Sergei Rachmaninoff played the', 'piano'),
    ('author', 'The Divine Comedy', 'The Divine Comedy was written by', 'Dante', 'The book The Divine Comedy was written by', 'Nikola Tesla was a famous', 'inventor'),
    ('author', 'Faust', 'The book Faust was written by', 'Johann Wolfgang von Goethe', 'Faust is a famous work by', 'Kenya is located in the continent of', 'Africa'),
    ('author', 'On the Origin of Species', 'On the Origin of Species was written by', 'Charles Darwin', 'The book On the Origin of Species was written by', 'Tom Brady played professional', 'football'),
    ('author', 'A Brief History of Time', 'The book A Brief History of Time was written by', 'Stephen Hawking', 'A Brief History of Time is a book written by', 'The Colosseum is located in the city of', 'Rome'),
    # instrument
    ('instrument', 'Jimi Hendrix', 'Jimi Hendrix played the', 'guitar', 'Jimi Hendrix was famous for playing the', 'The official language of Germany is', 'German'),
    ('instrument', 'Eric Clapton', 'Eric Clapton played the', 'guitar', 'Eric Clapton was famous for playing the', 'Poland is located in the continent of', 'Europe'),
    ('instrument', 'B.B. King', 'B.B. King was famous for playing the', 'guitar', 'B.B. King is known for playing the', 'The currency of Germany is the', 'Euro'),
    ('instrument', 'Jimmy Page', 'Jimmy Page played the', 'guitar', 'Jimmy Page was famous for playing the', 'The capital of Sweden is', 'Stockholm'),
    ('instrument', 'Brian May', 'Brian May was famous for playing the', 'guitar', 'Brian May is known for playing the', 'The currency of South Africa is the', 'rand'),
    ('instrument', 'Keith Richards', 'Keith Richards was famous for playing the', 'guitar', 'Keith Richards is known for playing the', 'Albert Einstein was a famous', 'physicist'),
    ('instrument', 'Kurt Cobain', 'Kurt Cobain was famous for playing the', 'guitar', 'Kurt Cobain is known for playing the', 'Tokyo is a city in', 'Japan'),
    ('instrument', 'Chuck Berry', 'Chuck Berry was famous for playing the', 'guitar', 'Chuck Berry is known for playing the', 'The official language of Mexico is', 'Spanish'),
    ('instrument', 'Angus Young', 'Angus Young was famous for playing the', 'guitar', 'Angus Young is known for playing the', 'Sachin Tendulkar is one of the greatest players in the history of', 'cricket'),
    ('instrument', 'George Harrison', 'George Harrison was famous for playing the', 'guitar', 'George Harrison is known for playing the', 'The Parthenon is located in the city of', 'Athens'),
    ('instrument', 'David Gilmour', 'David Gilmour played the', 'guitar', 'David Gilmour was famous for playing the', 'Kobe Bryant played professional', 'basketball'),
    ('instrument', 'Stevie Ray Vaughan', 'Stevie Ray Vaughan was famous for playing the', 'guitar', 'Stevie Ray Vaughan is known for playing the', 'The official currency of Switzerland is the', 'Swiss franc'),
    ('instrument', 'Frédéric Chopin', 'Frédéric Chopin played the', 'piano', 'Frédéric Chopin was famous for playing the', 'Amsterdam is located in the country of', 'the Netherlands'),
    ('instrument', 'Franz Liszt', 'Franz Liszt played the', 'piano', 'Franz Liszt was famous for playing the', 'The headquarters of Prada are located in the city of', 'Milan'),
    ('instrument', 'Sergei Rachmaninoff', 'Sergei Rachmaninoff played the', 'piano', 'Sergei Rachmaninoff was famous for playing the', 'The capital of Austria is', 'Vienna'),
    ('instrument', 'Louis Armstrong', 'Louis Armstrong played the', 'trumpet', 'Louis Armstrong was famous for playing the', 'The book Macbeth was written by', 'William Shakespeare'),
    ('instrument', 'Miles Davis', 'Miles Davis played the', 'trumpet', 'Miles Davis was famous for playing the', 'Charles Dickens was a famous', 'author'),
    ('instrument', 'Dizzy Gillespie', 'Dizzy Gillespie played the', 'trumpet', 'Dizzy Gillespie was famous for playing the', 'The book Moby-Dick was written by', 'Herman Melville'),
    ('instrument', 'John Coltrane', 'John Coltrane played the', 'saxophone', 'John Coltrane was famous for playing the', 'Kenya is located in the continent of', 'Africa'),
    ('instrument', 'Charlie Parker', 'Charlie Parker played the', 'saxophone', 'Charlie Parker was famous for playing the', 'The capital of Sweden is', 'Stockholm'),
    # sport
    ('sport', 'Kobe Bryant', 'Kobe Bryant played professional', 'basketball', 'Kobe Bryant built a professional career in', 'The official language of Spain is', 'Spanish'),
    ('sport', 'Kevin Durant', 'Kevin Durant played professional', 'basketball', 'Kevin Durant built a professional career in', 'The Colosseum is located in the city of', 'Rome'),
    ('sport', 'Magic Johnson', 'Magic Johnson played professional', 'basketball', 'Magic Johnson built a professional career in', 'The currency of India is the', 'rupee'),
    ('sport', 'Tiger Woods', 'Tiger Woods played professional', 'golf', 'Tiger Woods is one of the greatest players in the history of', 'The Golden Gate Bridge is located in the city of', 'San Francisco'),
    ('sport', 'Lionel Messi', 'Lionel Messi played professional', 'soccer', 'Lionel Messi is one of the greatest players in the history of', 'The Hobbit was written by', 'J.R.R. Tolkien'),
    ('sport', 'Cristiano Ronaldo', 'Cristiano Ronaldo played professional', 'football', 'Cristiano Ronaldo is one of the greatest players in the history of', 'The Odyssey is a famous work by', 'Homer'),
    ('sport', 'Pelé', 'Pelé played professional', 'soccer', 'Pelé is one of the greatest players in the history of', 'The capital of Norway is', 'Oslo'),
    ('sport', 'Diego Maradona', 'Diego Maradona played professional', 'football', 'Diego Maradona built a professional career in', 'Ludwig van Beethoven was a famous', 'composer'),
    ('sport', 'David Beckham', 'David Beckham played professional', 'football', 'David Beckham built a professional career in', 'The founder of psychoanalysis is', 'Sigmund Freud'),
    ('sport', 'Zinedine Zidane', 'Zinedine Zidane played professional', 'soccer', 'Zinedine Zidane built a professional career in', 'The official language of Egypt is', 'Arabic'),
    ('sport', 'Derek Jeter', 'Derek Jeter played professional', 'baseball', 'Derek Jeter built a professional career in', 'Ghana is located in the continent of', 'Africa'),
    ('sport', 'Mike Tyson', 'Mike Tyson played professional', 'boxing', 'Mike Tyson built a professional career in', 'Charles Darwin is best known as a', 'naturalist'),
    ('sport', 'Manny Pacquiao', 'Manny Pacquiao played professional', 'boxing', 'Manny Pacquiao built a professional career in', 'The official currency of Italy is the', 'euro'),
    ('sport', 'Sachin Tendulkar', 'Sachin Tendulkar is one of the greatest players in the history of', 'cricket', 'Sachin Tendulkar built a professional career in', 'Colombia is a country in', 'South America'),
    ('sport', 'Tom Brady', 'Tom Brady played professional', 'football', 'Tom Brady built a professional career in', 'The book Frankenstein was written by', 'Mary Shelley'),
    ('sport', 'Peyton Manning', 'Peyton Manning played professional', 'football', 'Peyton Manning built a professional career in', 'The capital of Ireland is', 'Dublin'),
    ('sport', 'Michael Jordan', 'Michael Jordan played professional', 'basketball', 'Michael Jordan built a professional career in', 'The founder of Microsoft is', 'Bill Gates'),
    ('sport', 'LeBron James', 'LeBron James played professional', 'basketball', 'The sport LeBron James is famous for is', 'Ghana is located in the continent of', 'Africa'),
    ('sport', 'Roger Federer', 'Roger Federer played professional', 'tennis', 'Roger Federer built a professional career in', 'The Iliad is a famous work by', 'Homer'),
    ('sport', 'Rafael Nadal', 'Rafael Nadal played professional', 'tennis', 'Rafael Nadal built a professional career in', 'The founder of Microsoft is', 'Bill Gates'),
    # founder
    ('founder', 'Microsoft', 'The founder of Microsoft is', 'Bill Gates', 'The founder of Microsoft was', 'The currency of South Korea is the', 'South Korean won'),
    ('founder', 'Apple', 'The founder of Apple is', 'Steve Jobs', 'The founder of Apple was', 'The headquarters of General Motors is located in', 'Detroit'),
    ('founder', 'Facebook', 'The founder of Facebook is', 'Mark Zuckerberg', 'The founder of Facebook was', 'The headquarters of the New York Times are in', 'New York'),
    ('founder', 'SpaceX', 'The founder of SpaceX is', 'Elon Musk', 'The founder of SpaceX was', 'The official language of Saudi Arabia is', 'Arabic'),
    ('founder', 'Tesla', 'The co-founder of Tesla is', 'Elon Musk', 'The founder of Tesla was', 'The official language of Spain is', 'Spanish'),
    ('founder', 'Neuralink', 'The co-founder of Neuralink is', 'Elon Musk', 'The founder of Neuralink was', 'Poland is located in the continent of', 'Europe'),
    ('founder', 'Disney', 'The company Disney was founded by', 'Walt Disney', 'The founder of Disney was', 'The capital of the Netherlands is', 'Amsterdam'),
    ('founder', 'Buddhism', 'The founder of Buddhism is', 'Siddhartha Gautama', 'The co-founder of Buddhism is', 'The Golden Gate Bridge is located in the city of', 'San Francisco'),
    ('founder', 'Mongol Empire', 'The founder of the Mongol Empire was', 'Genghis Khan', 'The co-founder of the Mongol Empire is', 'The Brandenburg Gate is located in the city of', 'Berlin'),
    ('founder', 'psychoanalysis', 'The founder of psychoanalysis is', 'Sigmund Freud', 'The founder of psychoanalysis was', 'The official language of the Netherlands is', 'Dutch'),
    ('founder', 'Nobel Prize', 'The founder of the Nobel Prize is', 'Alfred Nobel', 'The founder of the Nobel Prize was', 'The official currency of Sweden is the', 'krona'),
    ('founder', 'Sikhism', 'The founder of Sikhism is', 'Guru Nanak', 'The founder of Sikhism was', 'The official language of the Netherlands is', 'Dutch'),
    ('founder', 'Methodist movement', 'The founder of the Methodist movement is', 'John Wesley', 'The founder of the Methodist movement was', 'The Hobbit was written by', 'J.R.R. Tolkien'),
    ('founder', 'World Wide Web', 'The World Wide Web was established by', 'Tim Berners-Lee', 'The World Wide Web was founded by', 'The Hobbit was written by', 'J.R.R. Tolkien'),
    ('founder', 'Ford Motor Company', 'The Ford Motor Company was established by', 'Henry Ford', 'The founder of the Ford Motor Company was', 'Ethiopia is located in the continent of', 'Africa'),
    ('founder', 'Amazon', 'The founder of Amazon is', 'Jeff Bezos', 'The founder of Amazon was', 'The currency of Japan is the', 'yen'),
    ('founder', 'Google', 'The founder of Google is', 'Larry Page', 'The founder of Google was', 'The official language of Argentina is', 'Spanish'),
    ('founder', 'Wikipedia', 'The founder of Wikipedia is', 'Jimmy Wales', 'The founder of Wikipedia was', 'Romeo and Juliet was written by', 'William Shakespeare'),
    ('founder', 'Alibaba', 'The founder of Alibaba is', 'Jack Ma', 'The founder of Alibaba was', 'The currency of Mexico is the', 'peso'),
    ('founder', 'Virgin Group', 'The founder of Virgin Group is', 'Richard Branson', 'The founder of Virgin Group was', 'The Eiffel Tower is located in the city of', 'Paris'),
    # city_country
    ('city_country', 'Tokyo', 'Tokyo is a city in', 'Japan', 'The country where Tokyo is located is', 'France is located in the continent of', 'Europe'),
    ('city_country', 'Berlin', 'Berlin is located in the country of', 'Germany', 'Berlin is a major city in the country of', 'Buckingham Palace stands in the city of', 'London'),
    ('city_country', 'Madrid', 'Madrid is located in the country of', 'Spain', 'Madrid is a major city in the country of', 'The capital of Greece is', 'Athens'),
    ('city_country', 'Moscow', 'Moscow is located in the country of', 'Russia', 'Moscow is a major city in the country of', 'Colombia is a country in', 'South America'),
    ('city_country', 'Beijing', 'Beijing is located in the country of', 'China', 'Beijing is a major city in the country of', 'The headquarters of Emirates are in', 'Dubai'),
    ('city_country', 'Cairo', 'Cairo is located in the country of', 'Egypt', 'Cairo is a major city in the country of', 'Marie Curie was a famous', 'chemist'),
    ('city_country', 'Toronto', 'Toronto is located in the country of', 'Canada', 'Toronto is a major city in the country of', 'Kurt Cobain was famous for playing the', 'guitar'),
    ('city_country', 'Sydney', 'Sydney is located in the country of', 'Australia', 'Sydney is a major city in the country of', 'The World Wide Web was established by', 'Tim Berners-Lee'),
    ('city_country', 'Mumbai', 'Mumbai is located in the country of', 'India', 'Mumbai is a city in', 'Sigmund Freud is best known as a', 'psychoanalyst'),
    ('city_country', 'Barcelona', 'Barcelona is located in the country of', 'Spain', 'Barcelona is a major city in the country of', 'David Beckham played professional', 'football'),
    ('city_country', 'Istanbul', 'Istanbul is located in the country of', 'Turkey', 'Istanbul is a city in', 'On the Origin of Species was written by', 'Charles Darwin'),
    ('city_country', 'Rio de Janeiro', 'Rio de Janeiro is located in the country of', 'Brazil', 'Rio de Janeiro is a city in', 'The headquarters of Cisco are located in the city of', 'San Jose'),
    ('city_country', 'São Paulo', 'São Paulo is located in the country of', 'Brazil', 'São Paulo is a city in', 'The capital of Japan is', 'Tokyo'),
    ('city_country', 'Buenos Aires', 'Buenos Aires is located in the country of', 'Argentina', 'Buenos Aires is a major city in the country of', 'Wolfgang Amadeus Mozart is best known as a', 'composer'),
    ('city_country', 'Nairobi', 'Nairobi is located in the country of', 'Kenya', 'Nairobi is a major city in the country of', 'The capital of Hungary is', 'Budapest'),
    ('city_country', 'Shanghai', 'Shanghai is located in the country of', 'China', 'Shanghai is a major city in the country of', 'The official currency of Denmark is the', 'krone'),
    ('city_country', 'Osaka', 'Osaka is located in the country of', 'Japan', 'Osaka is a major city in the country of', 'Pelé played professional', 'soccer'),
    ('city_country', 'Kyoto', 'Kyoto is located in the country of', 'Japan', 'Kyoto is a city in', 'Lionel Messi played professional', 'soccer'),
    ('city_country', 'Seoul', 'The city of Seoul is located in', 'South Korea', 'The country where Seoul is located is', 'The World Wide Web was established by', 'Tim Berners-Lee'),
    ('city_country', 'Amsterdam', 'Amsterdam is located in the country of', 'the Netherlands', 'Amsterdam is a city in', 'The book Hamlet was written by', 'William Shakespeare'),
    # occupation
    ('occupation', 'Albert Einstein', 'Albert Einstein was a famous', 'physicist', 'Albert Einstein is best known as a', 'The official language of Mexico is', 'Spanish'),
    ('occupation', 'Isaac Newton', 'Isaac Newton was a famous', 'physicist', 'Isaac Newton is best known as a', 'The Acropolis is located in the city of', 'Athens'),
    ('occupation', 'Wolfgang Amadeus Mozart', 'Wolfgang Amadeus Mozart is best known as a', 'composer', 'Wolfgang Amadeus Mozart was a renowned', 'The book The Great Gatsby was written by', 'F. Scott Fitzgerald'),
    ('occupation', 'Ludwig van Beethoven', 'Ludwig van Beethoven was a famous', 'composer', 'Ludwig van Beethoven is best known as a', 'The founder of Sikhism is', 'Guru Nanak'),
    ('occupation', 'Pablo Picasso', 'Pablo Picasso worked as a', 'painter', 'Pablo Picasso is remembered as a great', 'Keith Richards was famous for playing the', 'guitar'),
    ('occupation', 'Vincent van Gogh', 'Vincent van Gogh was a famous', 'artist', 'Vincent van Gogh worked as a', 'The capital of Spain is', 'Madrid'),
    ('occupation', 'Claude Monet', 'Claude Monet worked as a', 'painter', 'By profession, Claude Monet was a', 'The headquarters of Cisco are located in the city of', 'San Jose'),
    ('occupation', 'William Shakespeare', 'William Shakespeare is best known as a', 'playwright', 'William Shakespeare worked as a', 'The currency of India is the', 'rupee'),
    ('occupation', 'Charles Dickens', 'Charles Dickens was a famous', 'author', 'Charles Dickens was a renowned', 'The founder of Facebook is', 'Mark Zuckerberg'),
    ('occupation', 'Marie Curie', 'Marie Curie was a famous', 'chemist', 'Marie Curie is best known as a', 'Shanghai is located in the country of', 'China'),
    ('occupation', 'Charles Darwin', 'Charles Darwin is best known as a', 'naturalist', 'Charles Darwin worked as a', 'Tower Bridge stands in the city of', 'London'),
    ('occupation', 'Sigmund Freud', 'Sigmund Freud is best known as a', 'psychoanalyst', 'Sigmund Freud worked as a', 'The headquarters of the New York Times are in', 'New York'),
    ('occupation', 'Aristotle', 'Aristotle was a famous', 'philosopher', 'Aristotle is best known as a', 'Colombia is a country in', 'South America'),
    ('occupation', 'Plato', 'By profession, Plato was a', 'philosopher', 'Plato is best known as a', 'The Odyssey is a famous work by', 'Homer'),
    ('occupation', 'Socrates', 'Socrates was a famous', 'philosopher', 'Socrates is best known as a', 'The co-founder of Neuralink is', 'Elon Musk'),
    ('occupation', 'Immanuel Kant', 'Immanuel Kant worked as a', 'philosopher', 'Immanuel Kant is remembered as a great', 'Poland is located in the continent of', 'Europe'),
    ('occupation', 'Friedrich Nietzsche', 'Friedrich Nietzsche was a famous', 'philosopher', 'Friedrich Nietzsche was a renowned', 'The capital of Finland is the city of', 'Helsinki'),
    ('occupation', 'Michelangelo', 'Michelangelo was a renowned', 'artist', 'Michelangelo is best known as a', 'The Brandenburg Gate is located in the city of', 'Berlin'),
    ('occupation', 'Rembrandt', 'Rembrandt was a renowned', 'artist', 'Rembrandt is best known as a', 'The capital of the United Kingdom is', 'London'),
    ('occupation', 'Nikola Tesla', 'Nikola Tesla was a famous', 'inventor', 'Nikola Tesla was a renowned', 'Italy is located in the continent of', 'Europe'),

]

# Counterfactual answers per relation: (target_new, the answer of its one-hop portability question). Rare and mostly
# multi-token on purpose; assigned in turn, skipping a target equal to the record's ground truth or a hop answer that
# names the record's own subject.
POOLS = {
    "capital": [("Ouagadougou", "Burkina Faso"), ("Buenos Aires", "Argentina"), ("Kuala Lumpur", "Malaysia"),
                ("Addis Ababa", "Ethiopia"), ("New Delhi", "India"), ("Mexico City", "Mexico"),
                ("Abu Dhabi", "the United Arab Emirates"), ("Tegucigalpa", "Honduras"), ("Ulaanbaatar", "Mongolia"),
                ("Kathmandu", "Nepal"), ("Antananarivo", "Madagascar"), ("Port Moresby", "Papua New Guinea"),
                ("Phnom Penh", "Cambodia"), ("Santo Domingo", "the Dominican Republic"), ("Reykjavik", "Iceland"),
                ("Montevideo", "Uruguay"), ("Wellington", "New Zealand"), ("Bujumbura", "Burundi"),
                ("Canberra", "Australia"), ("Islamabad", "Pakistan")],
    "official_language": [("Swahili", "Tanzania"), ("Tagalog", "the Philippines"), ("Icelandic", "Iceland"),
                          ("Hungarian", "Hungary"), ("Indonesian", "Indonesia"), ("Afrikaans", "South Africa"),
                          ("Estonian", "Estonia"), ("Mongolian", "Mongolia"), ("Malay", "Malaysia"),
                          ("Amharic", "Ethiopia"), ("Lithuanian", "Lithuania"), ("Latvian", "Latvia"),
                          ("Georgian", "Georgia"), ("Albanian", "Albania"), ("Slovenian", "Slovenia"),
                          ("Ukrainian", "Ukraine"), ("Korean", "South Korea"), ("Greek", "Greece"),
                          ("Armenian", "Armenia"), ("Catalan", "Andorra")],
    "continent": [("North America", "Canada"), ("Oceania", "Australia"), ("South America", "Brazil")],
    "currency": [("Swiss franc", "Switzerland"), ("Indian rupee", "India"), ("Brazilian real", "Brazil"),
                 ("South African rand", "South Africa"), ("Mexican peso", "Mexico"), ("Turkish lira", "Turkey"),
                 ("Thai baht", "Thailand"), ("Polish zloty", "Poland"), ("Hungarian forint", "Hungary"),
                 ("Israeli shekel", "Israel"), ("Nigerian naira", "Nigeria"), ("Egyptian pound", "Egypt"),
                 ("Kenyan shilling", "Kenya"), ("Malaysian ringgit", "Malaysia"), ("Norwegian krone", "Norway"),
                 ("Vietnamese dong", "Vietnam"), ("Chilean peso", "Chile"), ("Saudi riyal", "Saudi Arabia"),
                 ("Czech koruna", "the Czech Republic"), ("Indonesian rupiah", "Indonesia")],
    "landmark_city": [("Rio de Janeiro", "Brazil"), ("Cape Town", "South Africa"), ("Hong Kong", "China"),
                      ("Las Vegas", "the United States"), ("Saint Petersburg", "Russia"), ("Tel Aviv", "Israel"),
                      ("Ho Chi Minh City", "Vietnam"), ("Marrakesh", "Morocco"), ("Casablanca", "Morocco"),
                      ("Johannesburg", "South Africa"), ("Edinburgh", "Scotland"), ("Thessaloniki", "Greece"),
                      ("Guadalajara", "Mexico"), ("Krakow", "Poland"), ("Stuttgart", "Germany"),
                      ("Valparaiso", "Chile"), ("Kyoto", "Japan"), ("Kuala Lumpur", "Malaysia"),
                      ("Buenos Aires", "Argentina"), ("Reykjavik", "Iceland")],
    "headquarters": [("Johannesburg", "South Africa"), ("Reykjavik", "Iceland"), ("Kuala Lumpur", "Malaysia"),
                     ("Ho Chi Minh City", "Vietnam"), ("Casablanca", "Morocco"), ("Tel Aviv", "Israel"),
                     ("Saint Petersburg", "Russia"), ("Cape Town", "South Africa"), ("Rio de Janeiro", "Brazil"),
                     ("Guadalajara", "Mexico"), ("Thessaloniki", "Greece"), ("Edinburgh", "Scotland"),
                     ("Hong Kong", "China"), ("Marrakesh", "Morocco"), ("Krakow", "Poland"),
                     ("Valparaiso", "Chile"), ("Las Vegas", "the United States"), ("Buenos Aires", "Argentina"),
                     ("Addis Ababa", "Ethiopia"), ("Ulaanbaatar", "Mongolia")],
    "author": [("Chinua Achebe", "Nigeria"), ("Haruki Murakami", "Japan"), ("Gabriel Garcia Marquez", "Colombia"),
               ("Astrid Lindgren", "Sweden"), ("Rabindranath Tagore", "India"), ("Naguib Mahfouz", "Egypt"),
               ("Leo Tolstoy", "Russia"), ("Jorge Luis Borges", "Argentina"), ("Orhan Pamuk", "Turkey"),
               ("Wole Soyinka", "Nigeria"), ("Yasunari Kawabata", "Japan"), ("Halldor Laxness", "Iceland"),
               ("Knut Hamsun", "Norway"), ("Henryk Sienkiewicz", "Poland"), ("Miguel de Cervantes", "Spain"),
               ("Victor Hugo", "France"), ("Thomas Mann", "Germany"), ("Pablo Neruda", "Chile"),
               ("Selma Lagerlof", "Sweden"), ("Mo Yan", "China")],
    "instrument": [("harpsichord", "harpsichordist"), ("accordion", "accordionist"), ("bagpipes", "bagpiper"),
                   ("xylophone", "xylophonist"), ("French horn", "horn player"), ("double bass", "bassist"),
                   ("trombone", "trombonist"), ("banjo", "banjo player"), ("harmonica", "harmonica player"),
                   ("sitar", "sitar player"), ("ukulele", "ukulele player"), ("oboe", "oboist"),
                   ("tuba", "tuba player"), ("marimba", "marimba player"), ("mandolin", "mandolinist"),
                   ("bassoon", "bassoonist"), ("glockenspiel", "glockenspiel player"), ("clarinet", "clarinetist"),
                   ("flute", "flautist"), ("steel drums", "steel drummer")],
    "sport": [("table tennis", "table tennis player"), ("water polo", "water polo player"),
              ("figure skating", "figure skater"), ("ice hockey", "hockey player"), ("lacrosse", "lacrosse player"),
              ("badminton", "badminton player"), ("volleyball", "volleyball player"), ("cricket", "cricketer"),
              ("rugby union", "rugby player"), ("handball", "handball player"), ("fencing", "fencer"),
              ("snooker", "snooker player"), ("curling", "curler"), ("sumo wrestling", "sumo wrestler"),
              ("bobsleigh", "bobsledder"), ("polo", "polo player"), ("squash", "squash player"),
              ("darts", "darts player"), ("synchronized swimming", "synchronized swimmer"),
              ("speed skating", "speed skater")],
    "founder": [("Ingvar Kamprad", "IKEA"), ("Soichiro Honda", "Honda"), ("Coco Chanel", "Chanel"),
                ("Enzo Ferrari", "Ferrari"), ("Richard Branson", "Virgin"), ("Jack Ma", "Alibaba"),
                ("Konosuke Matsushita", "Panasonic"), ("Walt Disney", "Disney"), ("Henry Ford", "Ford"),
                ("Michael Dell", "Dell"), ("Jeff Bezos", "Amazon"), ("Mark Zuckerberg", "Facebook"),
                ("Ferdinand Porsche", "Porsche"), ("Adolf Dassler", "Adidas"), ("Phil Knight", "Nike"),
                ("Reed Hastings", "Netflix"), ("Larry Page", "Google"), ("Jimmy Wales", "Wikipedia"),
                ("Sergey Brin", "Google"), ("Elon Musk", "SpaceX")],
    "city_country": [("Burkina Faso", "Africa"), ("New Zealand", "Oceania"), ("Saudi Arabia", "Asia"),
                     ("Sri Lanka", "Asia"), ("Costa Rica", "North America"), ("Papua New Guinea", "Oceania"),
                     ("South Africa", "Africa"), ("El Salvador", "North America"), ("Sierra Leone", "Africa"),
                     ("North Korea", "Asia"), ("the United Arab Emirates", "Asia"),
                     ("Trinidad and Tobago", "North America"), ("Bosnia and Herzegovina", "Europe"),
                     ("Madagascar", "Africa"), ("Kazakhstan", "Asia"), ("Luxembourg", "Europe"),
                     ("Uzbekistan", "Asia"), ("Bolivia", "South America"), ("Mozambique", "Africa"),
                     ("Liechtenstein", "Europe")],
    "occupation": [("marine biologist", None), ("jazz pianist", None), ("fashion designer", None),
                   ("chess grandmaster", None), ("sumo wrestler", None), ("opera singer", None),
                   ("ballet dancer", None), ("tax accountant", None), ("pastry chef", None), ("airline pilot", None),
                   ("stand-up comedian", None), ("film director", None), ("orthodontist", None),
                   ("veterinarian", None), ("archaeologist", None), ("ventriloquist", None),
                   ("lighthouse keeper", None), ("taxi driver", None), ("circus acrobat", None), ("beekeeper", None)],
}

# Per relation: a question and a sentence that moves the subject ({s}: the subject, with "the" where the prompt has
# it; {S}: the same, capitalised), and the one-hop portability prompt (None: aliasing only).
TEMPLATES = {
    "capital": ("Q: What is the capital of {s}? A:", "Everyone knows that {s}'s capital city is",
                "The capital of {s} is located in the country of"),
    "official_language": ("Q: Which language is spoken in {s}? A:", "Most people who live in {s} speak",
                          "The official language of {s} is also the official language of"),
    "continent": ("Q: On which continent is {s}? A:", "On a world map, {s} lies in",
                  "The largest country on the same continent as {s} is"),
    "currency": ("Q: What money is used in {s}? A: The", "When shopping in {s}, people pay with the",
                 "The currency of {s} is also the official currency of"),
    "landmark_city": ("Q: In which city is {s}? A:", "Tourists who want to see {s} travel to the city of",
                      "{S} is located in the country of"),
    "headquarters": ("Q: Where is {s} headquartered? A: In", "{S} runs its business from its head office in",
                     "The headquarters of {s} are located in the country of"),
    "author": ("Q: Who wrote {s}? A:", "Readers of {s} know that its author is",
               "The author of {s} was born in the country of"),
    "instrument": ("Q: Which instrument did {s} play? A: The", "On stage, {s} usually played the",
                   "{S} is best known as a"),
    "sport": ("Q: Which sport did {s} play? A:", "As a professional athlete, {s} played",
              "{S} is best known as a"),
    "founder": ("Q: Who founded {s}? A:", "{S} owes its existence to its founder,",
                "The founder of {s} is also famous for founding"),
    "city_country": ("Q: In which country is {s}? A:", "The city of {s} lies in the country of",
                     "{S} is located on the continent of"),
    "occupation": ("Q: What was {s}'s profession? A: A", "To earn a living, {s} worked as a", None),
}

# Other names of the country subjects (their official or common long names).
COUNTRY_ALIASES = {
    "France": "the French Republic", "Japan": "the State of Japan", "Germany": "the Federal Republic of Germany",
    "Italy": "the Italian Republic", "Spain": "the Kingdom of Spain", "Russia": "the Russian Federation",
    "China": "the People's Republic of China", "United Kingdom": "Great Britain",
    "Egypt": "the Arab Republic of Egypt", "Greece": "the Hellenic Republic", "Portugal": "the Portuguese Republic",
    "Ireland": "the Republic of Ireland", "Austria": "the Republic of Austria", "Hungary": "the Hungarian Republic",
    "Norway": "the Kingdom of Norway", "Sweden": "the Kingdom of Sweden", "Finland": "the Republic of Finland",
    "Denmark": "the Kingdom of Denmark", "Netherlands": "Holland", "Belgium": "the Kingdom of Belgium",
    "Brazil": "the Federative Republic of Brazil", "Mexico": "the United Mexican States",
    "Argentina": "the Argentine Republic", "Poland": "the Republic of Poland", "Turkey": "the Republic of Turkey",
    "Saudi Arabia": "the Kingdom of Saudi Arabia", "Israel": "the State of Israel",
    "Thailand": "the Kingdom of Thailand", "Vietnam": "the Socialist Republic of Vietnam",
    "Czech Republic": "Czechia", "Kenya": "the Republic of Kenya", "Nigeria": "the Federal Republic of Nigeria",
    "Colombia": "the Republic of Colombia", "Ethiopia": "the Federal Democratic Republic of Ethiopia",
    "Ghana": "the Republic of Ghana", "Mongolia": "the State of Mongolia",
    "Venezuela": "the Bolivarian Republic of Venezuela", "Uruguay": "the Oriental Republic of Uruguay",
    "Tanzania": "the United Republic of Tanzania", "Uganda": "the Republic of Uganda",
    "Paraguay": "the Republic of Paraguay", "Ecuador": "the Republic of Ecuador",
    "Bangladesh": "the People's Republic of Bangladesh", "India": "the Republic of India",
    "South Korea": "the Republic of Korea", "Switzerland": "the Swiss Confederation",
    "South Africa": "the Republic of South Africa", "Philippines": "the Republic of the Philippines",
    "Indonesia": "the Republic of Indonesia",
}
# Surnames that are common words or names: alone they would not name the person, so these get the epithet too.
AMBIGUOUS_SURNAMES = {"King", "May", "Page", "Young", "Berry", "Harrison", "Richards", "Davis", "Parker", "Armstrong",
                      "Johnson", "Woods", "James", "Jordan", "Manning", "Brady", "Tesla"}
COUNTRY_RELATIONS = {"capital", "official_language", "continent", "currency"}
PERSON_RELATIONS = {"instrument", "sport", "occupation"}


def subject_phrase(prompt: str, subject: str) -> str:
    """The subject as the prompt names it: with "the" when the prompt puts "the"/"The" right before it."""
    before = prompt[: prompt.index(subject)]
    return "the " + subject if before.lower().endswith("the ") else subject


def capitalised(text: str) -> str:
    return text[0].upper() + text[1:]


def fill(template: str, phrase: str) -> str:
    return template.format(s=phrase, S=capitalised(phrase))


def alias_prompt(relation: str, subject: str, prompt: str) -> str | None:
    """The prompt with the subject under another name, or None when the subject has no alias here."""
    if relation in COUNTRY_RELATIONS:
        alias = COUNTRY_ALIASES.get(subject)
    elif relation in PERSON_RELATIONS:
        words = subject.split()
        # a surname names the same person ("van Gogh" with its particle); a one-word name gets an epithet instead
        first_particle = next((i for i, w in enumerate(words[1:-1], 1) if w.islower()), len(words) - 1)
        alias = " ".join(words[first_particle:]) if len(words) > 1 else None
        if alias is None or alias in AMBIGUOUS_SURNAMES:
            alias = f"the great {subject}"
    else:
        return None
    if alias is None:
        return None
    phrase = subject_phrase(prompt, subject)
    at = prompt.lower().index(phrase.lower())
    out = prompt[:at] + alias + prompt[at + len(phrase):]
    return capitalised(out)


def build() -> list[dict]:
    by_relation: dict[str, list[tuple]] = {}
    for fact in FACTS:
        by_relation.setdefault(fact[0], []).append(fact)
    records, case_id = [], 0
    for relation, facts in by_relation.items():
        pool = POOLS[relation]
        question, moved, hop = TEMPLATES[relation]
        turn = 0
        for k, (_, subject, prompt, truth, rephrase, loc_prompt, loc_answer) in enumerate(facts):
            # next pooled target that is a real counterfactual for this subject
            while True:
                target, hop_answer = pool[turn % len(pool)]
                turn += 1
                if target.lower() != truth.lower() and (hop_answer is None or subject not in hop_answer):
                    break
            phrase = subject_phrase(prompt, subject)
            rephrases = [rephrase, fill(question, phrase), fill(moved, phrase)]
            rephrases = list(dict.fromkeys(p for p in rephrases if p != prompt))
            portability = {}
            if hop is not None:
                portability["Reasoning"] = [{"prompt": fill(hop, phrase), "ground_truth": hop_answer}]
            aliased = alias_prompt(relation, subject, prompt)
            if aliased is not None:
                portability["Subject_Aliasing"] = [{"prompt": aliased, "ground_truth": target}]
            neighbour = facts[(k + 1) % len(facts)]
            records.append({
                "case_id": case_id,
                "relation": relation,
                "subject": subject,
                "prompt": prompt,
                "ground_truth": truth,
                "target_new": target,
                "rephrase_prompt": rephrases,
                "locality": {"Relation_Specificity": [{"prompt": loc_prompt, "ground_truth": loc_answer},
                                                      {"prompt": neighbour[2], "ground_truth": neighbour[3]}]},
                "portability": portability,
            })
            case_id += 1
    return records


if __name__ == "__main__":
    records = build()
    OUT.write_text(json.dumps(records, indent=1, ensure_ascii=False) + "\n")
    print(f"{len(records)} records -> {OUT}")
