"""Neural-network building blocks: encoders, cross-modal fusion, decoders."""

from real3d.nn.blocks import ConvBNAct, Encoder, EncoderConfig, ResBlock
from real3d.nn.decoder import DecoderConfig, ProgressiveDecoder
from real3d.nn.fusion import FUSIONS, AddFusion, CrossModalAttention, SEFusion, make_fusion

__all__ = [
    "ConvBNAct",
    "ResBlock",
    "Encoder",
    "EncoderConfig",
    "DecoderConfig",
    "ProgressiveDecoder",
    "AddFusion",
    "SEFusion",
    "CrossModalAttention",
    "FUSIONS",
    "make_fusion",
]
