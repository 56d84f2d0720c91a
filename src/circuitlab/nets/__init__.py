"""The classic nets, each written from its equations and checked against a reference.

``Perceptron`` (the seed's neuron), ``MLP`` (layers of ``g(W^T x + b)``), ``RNN`` (Elman), ``LSTM``
(gates written out) and ``VAE`` (Kingma & Welling). Every one is a ``HookedModule``.
"""

from circuitlab.nets.lstm import LSTM, LSTMLayer
from circuitlab.nets.mlp import MLP, MLPConfig
from circuitlab.nets.perceptron import Perceptron, PerceptronConfig
from circuitlab.nets.rnn import RNN, RecurrentConfig, RNNLayer
from circuitlab.nets.vae import VAE, VAEConfig, VAELoss, VAEOutput

__all__ = [
    "LSTM",
    "LSTMLayer",
    "MLP",
    "MLPConfig",
    "Perceptron",
    "PerceptronConfig",
    "RNN",
    "RNNLayer",
    "RecurrentConfig",
    "VAE",
    "VAEConfig",
    "VAELoss",
    "VAEOutput",
]
