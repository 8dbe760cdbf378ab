"""The built-in mixing strategies, one module each; ``syneg.mixing.registry`` collects them."""
