"""The seed's classic nets, checked: the perceptron cell, an MLP and a VAE on scikit-learn's digits,
and the RNN's forgetting against the LSTM's gates (modules ``perceptron``, ``mlp``, ``vae``,
``memory``; the recall task they train on is in ``recall``)."""
