"""The simulation layer: compiled kernels, their linear algebra, the cost model, random streams, NumPy twins.

==================  ==============================================================
``engine``          per-run test losses from draws (what :func:`linmeta.simulate` calls)
``kernels``         one-step MAML and the protocol scorers, compiled over runs
``kernels_variants``  N-step MAML, first-order MAML and iMAML, compiled over runs
``kernels_erm``     ERM (pooled least squares), compiled over runs
``linalg``          the one ``jit`` decorator and LAPACK factor/solve pairs for Numba code
``budget``          memory and time of a simulation, checked before allocating
``rng``             random streams addressed by (seed, run, stream)
``gram_sampler``    over-parameterised draws from sufficient statistics
``reference``       plain-NumPy twins of the kernels (test oracles, benchmark baselines)
==================  ==============================================================
"""
