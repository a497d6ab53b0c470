"""DSP building blocks shared by the processor families (convolution, IIR, envelopes, ...)."""
