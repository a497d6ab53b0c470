import torch

# The tests use short signals, for which one thread is fastest and timing does not depend on how
# busy the machine is.
torch.set_num_threads(1)
