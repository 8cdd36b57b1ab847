"""The "Neural Network from scratch" notebook's own steps, running on nnscratch.

The notebook did::

    x, y = fetch_openml('mnist_784', version=1, return_X_y=True)
    x = (x / 255).astype('float32')
    y = to_categorical(y)
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.15, random_state=42)
    dnn = DeepNeuralNetwork(sizes=[784, 128, 64, 10])
    dnn.train(x_train, y_train, x_val, y_val)

Here the same steps, in the same shapes, need nothing but nnscratch (and NumPy). Run it with
``python examples/tutorial_flow.py [--epochs N] [--data-dir DIR]``.
"""

from __future__ import annotations

import argparse

import numpy as np

from nnscratch import DeepNeuralNetwork
from nnscratch.data import load_mnist, to_categorical, train_test_split


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--data-dir", default=None, help="directory with the four MNIST IDX files")
    args = parser.parse_args(argv)

    # 1. All 70,000 digits as rows of 784 pixels, like fetch_openml('mnist_784') returned them.
    ds = load_mnist(args.data_dir)
    x = np.concatenate([ds.x_train, ds.x_test]).reshape(-1, 784)
    y = np.concatenate([ds.y_train, ds.y_test])

    # 2. Pixels to [0, 1], labels one-hot, 85/15 split with random_state=42 — the notebook's steps.
    x = (x / 255).astype("float32")
    y = to_categorical(y)
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.15, random_state=42)

    # 3. The notebook's class and call; it prints "Epoch: N, Time Spent: …, Loss: …, Accuracy: …".
    dnn = DeepNeuralNetwork(sizes=[784, 128, 64, 10], epochs=args.epochs)
    return dnn.train(x_train, y_train, x_val, y_val)


if __name__ == "__main__":
    main()
