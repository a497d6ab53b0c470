def lfilter(*args, **kwargs):
    raise NotImplementedError("the lfilter backend is not benchmarked")
