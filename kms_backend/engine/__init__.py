"""The KMIP engine: router, request context, access control, batch processing, one handler per operation.

================  ==============================================================================================
module            what
================  ==============================================================================================
``engine``        ``Engine``: batch processing (ID Placeholder, Batch Error Continuation, Maximum Response Size),
                  the 1.x translation of each item, one transaction per item, the kept-Plan fast path
``router``        ``ROUTES`` (Operation → handler) and ``EXECUTORS`` (Operation → the handler's ``execute`` of a
                  kept Plan): everything that answers an operation, one hop away
``handlers/``     one module per operation, ``handle(ctx, request) -> response``; ``_*`` modules hold what
                  several handlers share, one idea each: ``_paths`` (the paths an Encrypt, Decrypt or Sign
                  request may take), ``_hsm_keys`` (requests naming an ``hsm::`` key, which the Create, Create
                  Key Pair, Encrypt, Decrypt, Sign, Get and Destroy handlers hand to it), ``_usage`` (when a key
                  may be used), ``_params`` (what Cryptographic Parameters resolve to), ``_data`` (the Data
                  field), ``_streams`` (streamed operations, one driver), ``_bulk`` (Cosmian bulk data),
                  ``_links``, ``_pki``, ``_pkcs12``, ``_certificate_request``, ``_keypairs``, ``_rekey``,
                  ``_attributes``, ``_common``
``context``       ``RequestContext`` (user, version, time, transaction) and access control (``load``,
                  ``authorize``); ``BatchState`` shared by the items of one message
``plans``         ``Plan``: a one-shot Encrypt/Decrypt/Sign or Get decision as a value; ``PlanCache`` keeps
                  reusable ones
``caches``        ``EngineCaches``: the one owner of every cache, with one ``forget``
``keysource``     ``KeySource``: what the engine needs of keys that live outside the store (the HSM's)
``hot``           store records and grants kept while the store's change stamp holds
``objects``       ``ManagedObject`` and ``RecordCodec`` (store records ⇄ typed objects, with its decoded LRU)
``lifecycle``     states, dates and the transitions time brings
``keymaterial``   key material between Key Blocks and the crypto layer's forms
``keyformats``    Key Format Type conversion and key wrapping for Get/Export/Register/Import
``access``        the ``/access`` API's grants, on the same rules as ``context``
``config``        ``EngineConfig``
================  ==============================================================================================
"""

from .config import EngineConfig
from .engine import Engine

__all__ = ["Engine", "EngineConfig"]
