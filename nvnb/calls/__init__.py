"""Every request nvnb makes, seen once: the call log and the response cache.

One httpx transport wrapper (:mod:`nvnb.calls.transport`, installed by
``nvnb.client._transport.make_transport``) sees each request's body and its answer as it streams,
and feeds :mod:`nvnb.calls.record` (one :class:`CallRecord` per request, the last few kept in
memory: ``nvnb.last_call()``; the one an answer was, by :mod:`nvnb.calls.capture`),
:mod:`nvnb.calls.log` (the SQLite call log: ``nvnb.log()``, ``nvnb
log``) and :mod:`nvnb.calls.cache` (answers replayed from a file: ``nvnb.cache()``), keyed by
:mod:`nvnb.calls.digest`. The key never reaches any of them.
"""
