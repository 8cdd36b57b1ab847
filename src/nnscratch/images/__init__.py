"""Pictures: ``preprocess`` turns any picture into an MNIST digit; ``augment`` applies random affine maps."""
