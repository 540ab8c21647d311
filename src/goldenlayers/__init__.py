"""goldenlayers: find the layer to edit (LGA and the other selectors, checked with a few edits) and edit it
(R-ROME, ROME, EMMET).

    from goldenlayers import suggest_layer, edit
    suggestion = suggest_layer(model, tokenizer, requests)         # -> Suggestion: 3 shortlisted layers edited on 5
                                                                   #    requests each, the measured best (the default)
    quick = suggest_layer(model, tokenizer, requests, verify=0)     # no edits: the zero-edit default selector's pick
    report = edit(model, tokenizer, requests, layer=suggestion.layer, editor="r-rome")   # -> EditReport

The same code as `goldenlayers suggest` and `goldenlayers edit`. Names are imported on first use, so importing the
package (and every CLI start) does not pull in torch.
"""

_EXPORTS = {
    "suggest_layer": "goldenlayers.suggest",
    "Suggestion": "goldenlayers.suggest",
    "open_model": "goldenlayers.suggest",
    "read_requests": "goldenlayers.suggest",
    "write_hparams": "goldenlayers.suggest",
    "edit": "goldenlayers.apply_edits",
    "EditReport": "goldenlayers.apply_edits",
    "save_edited": "goldenlayers.apply_edits",
}
__all__ = list(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'goldenlayers' has no attribute {name!r}")
