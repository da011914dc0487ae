"""Plain nn.Modules (no Lightning): the architectures that models wrap."""
