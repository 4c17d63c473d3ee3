def sample(**kw): raise NotImplementedError
