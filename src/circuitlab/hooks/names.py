"""Short activation names -> hook names, by TransformerLens's ``utils.get_act_name`` rules.

    act_name("pattern", 0)        == "blocks.0.attn.hook_pattern"
    act_name("resid_pre", 3)      == "blocks.3.hook_resid_pre"
    act_name("scale", 2, "ln1")   == "blocks.2.ln1.hook_scale"
    act_name("k6")                == "blocks.6.attn.hook_k"      (letters, the layer, a layer type)
    act_name("scale4ln1")         == "blocks.4.ln1.hook_scale"
    act_name("embed")             == "hook_embed"
    act_name("normalized")        == "ln_final.hook_normalized"  (scale/normalized without a layer)
    act_name("blocks.0.hook_resid_post") is returned as it is   (a full name)

Attention activations (q k v z result pattern attn_scores rot_q rot_k) live in ``attn``, MLP ones
(pre post mid pre_linear) in ``mlp``; layer types "a"/"attention" mean attn, "m" mlp, "b"/"block"
the block itself. Aliases: attn -> pattern, attn_logits -> attn_scores, query/key/value -> q/k/v,
mlp_pre/mlp_mid/mlp_post -> pre/mid/post. One circuitlab extra: "ln_final" alone is
``ln_final.hook_normalized``. A block activation asked for without a layer gives the name
TransformerLens gives (``hook_pattern``), which no model has: the cache's KeyError then says so.
"""

from __future__ import annotations

import re

ATTN = ("q", "k", "v", "z", "rot_q", "rot_k", "result", "pattern", "attn_scores")
MLP = ("pre", "post", "mid", "pre_linear")
NAME_ALIASES = {
    "attn": "pattern",
    "attn_logits": "attn_scores",
    "query": "q",
    "key": "k",
    "value": "v",
    "mlp_pre": "pre",
    "mlp_mid": "mid",
    "mlp_post": "post",
}
TYPE_ALIASES = {"a": "attn", "attention": "attn", "m": "mlp", "b": "", "block": "", "blocks": ""}
_PACKED = re.compile(r"([a-z]+)(\d+)([a-z]?.*)")  # "k6", "scale4ln1": name, layer, layer type


def act_name(name: str, layer: int | str | None = None, layer_type: str | None = None) -> str:
    """The hook name a short activation name stands for (see the module docstring)."""
    if layer is None and layer_type is None:
        if "." in name or name.startswith("hook_"):
            return name
        if name == "ln_final":
            return "ln_final.hook_normalized"
    packed = _PACKED.match(name)
    if packed is not None:
        name, layer, layer_type = packed.groups()
    name = NAME_ALIASES.get(name, name)
    if name in ATTN:
        layer_type = "attn"
    elif name in MLP:
        layer_type = "mlp"
    else:
        layer_type = TYPE_ALIASES.get(layer_type, layer_type) if layer_type is not None else None
    parts = [] if layer is None else ["blocks", str(layer)]
    if layer_type:
        parts.append(layer_type)
    if layer is None and name in ("scale", "normalized"):
        parts.insert(0, "ln_final")
    return ".".join([*parts, f"hook_{name}"])


__all__ = ["act_name"]
