"""Pure DSP functions, one module per processor family; the nn.Modules call these."""
