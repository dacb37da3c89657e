"""Keras layers: gates and the gated residual block."""

from lcnet_tf.layers.block_gate import BlockGate
from lcnet_tf.layers.channel_gate import ChannelGate
from lcnet_tf.layers.residual_block import GatedResidualBlock

__all__ = ["BlockGate", "ChannelGate", "GatedResidualBlock"]
