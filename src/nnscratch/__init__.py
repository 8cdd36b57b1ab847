"""nnscratch: a neural network from scratch in NumPy that learns to read handwritten digits."""

from nnscratch.network import Network
from nnscratch.training import DeepNeuralNetwork

__version__ = "0.1.0"
__all__ = ["DeepNeuralNetwork", "Network", "__version__"]
