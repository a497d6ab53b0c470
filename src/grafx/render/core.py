"""The original library's module path for the buffer helpers: see :mod:`grafx.compat.buffers`."""

from grafx.compat.buffers import (
    aggregate_tensor,
    create_signal_buffer,
    expand_single_tensor,
    expand_tensor_or_tensor_dict,
    flatten_batch_and_node,
    inplace_write_tensor,
    read_single_tensor,
    read_tensor_dict,
    read_tensor_or_tensor_dict,
)

__all__ = [
    "aggregate_tensor",
    "create_signal_buffer",
    "expand_single_tensor",
    "expand_tensor_or_tensor_dict",
    "flatten_batch_and_node",
    "inplace_write_tensor",
    "read_single_tensor",
    "read_tensor_dict",
    "read_tensor_or_tensor_dict",
]
