"""Test harness for regscout: a real distribution registry, a token server, in-memory images,
a pusher and a fault-injecting proxy.

Modules: ``registry`` (start_registry, RunningRegistry, Account), ``token_issuer`` (TokenIssuer),
``images`` (tar_layer, build_image, build_index, small_image, Pusher), ``faults`` (FaultProxy and
fault kinds), ``fixtures`` (the pytest plugin).
"""
