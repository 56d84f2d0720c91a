"""One decoder block on the residual stream (pre-norm, as in the Mathematical Framework)."""

from __future__ import annotations

from torch import nn

from circuitlab.hooks import HookPoint
from circuitlab.transformer.config import TransformerConfig
from circuitlab.transformer.gqa import make_attention
from circuitlab.transformer.mlp import make_mlp
from circuitlab.transformer.norm import make_norm
from circuitlab.transformer.optional_hooks import add_optional_hooks, mlp_input, split_attention, splits_input
from circuitlab.transformer.padding import Padding
from circuitlab.typing import Float, Tensor


class TransformerBlock(nn.Module):
    """resid_mid = resid_pre + Attn(LN1(resid_pre));  resid_post = resid_mid + MLP(LN2(resid_mid)).

    Every layer reads the residual stream through a linear map and adds its output back: the
    residual stream is the model's communication channel. For shortformer positions the query
    and key read LN1(resid_pre) + W_pos and the value reads LN1(resid_pre), so positions steer
    attention but are never written to the stream (TransformerLens's convention). Attention-only
    blocks have no ln2, mlp, hook_resid_mid or hook_mlp_out. With
    ``cfg.shortformer_pos_in_norm`` the query and key read LN1(resid_pre + W_pos) instead (LN1 and
    its hooks then run twice), which forms previous-token heads much sooner in small models.
    With ``cfg.parallel_attn_mlp`` (GPT-NeoX) both sublayers read resid_pre:
    resid_post = resid_pre + Attn(LN1(resid_pre)) + MLP(LN2(resid_pre)), and hook_resid_mid is
    never called (there is no such state), as in TransformerLens.
    """

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.ln1 = make_norm(cfg.normalization, cfg.d_model, cfg.ln_eps, cfg.ln_bias)
        self.attn = make_attention(cfg)
        self.parallel = cfg.parallel_attn_mlp
        self.pos_in_norm = cfg.shortformer_pos_in_norm
        self.hook_resid_pre = HookPoint()
        self.hook_attn_out = HookPoint()
        self.hook_resid_post = HookPoint()
        add_optional_hooks(self, cfg.has_mlp)  # hook_attn_in, hook_q/k/v_input, hook_mlp_in: off
        if cfg.has_mlp:
            self.ln2 = make_norm(cfg.normalization, cfg.d_model, cfg.ln_eps, cfg.ln_bias)
            self.mlp = make_mlp(cfg)
            self.hook_resid_mid = HookPoint()
            self.hook_mlp_out = HookPoint()

    def forward(
        self,
        resid_pre: Float[Tensor, "batch pos d_model"],
        shortformer_pos: Float[Tensor, "pos d_model"] | Float[Tensor, "batch pos d_model"] | None = None,
        padding: Padding | None = None,
    ) -> Float[Tensor, "batch pos d_model"]:
        resid_pre = self.hook_resid_pre(resid_pre)
        if splits_input(self):  # each head reads its own copy of resid_pre (optional_hooks)
            attn_out = split_attention(self, resid_pre, shortformer_pos, padding)
        elif shortformer_pos is not None and self.pos_in_norm:  # Q, K read LN1(resid_pre + W_pos)
            x = self.ln1(resid_pre)
            x_qk = self.ln1(resid_pre + shortformer_pos)
            attn_out = self.attn(x_qk, x_qk, x, padding=padding)
        else:
            attn_out = self.attn(self.ln1(resid_pre), qk_pos=shortformer_pos, padding=padding)
        if self.parallel:  # GPT-NeoX: the MLP reads resid_pre too
            mlp_out = self.hook_mlp_out(self.mlp(self.ln2(mlp_input(self, resid_pre))))
            return self.hook_resid_post(resid_pre + self.hook_attn_out(attn_out) + mlp_out)
        resid = resid_pre + self.hook_attn_out(attn_out)
        if hasattr(self, "mlp"):
            resid = self.hook_resid_mid(resid)
            resid = resid + self.hook_mlp_out(self.mlp(self.ln2(mlp_input(self, resid))))
        return self.hook_resid_post(resid)
