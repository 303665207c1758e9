"""Django's Redis cache, with one client per connection pool instead of one per call.

Django's `RedisCacheClient.get_client` builds a new `redis.Redis` around the shared pool on every
cache call, and a client's constructor fills a table of about 170 response callbacks: some 0.3 ms
each time, several times a request on the API's hottest path (the key lookup, the UTM taxonomy,
segment rules). A client holds nothing but its pool and is safe to share between threads, and the
pool reconnects in a forked child, so one client per pool is kept.
"""

from django.core.cache.backends import redis


class _ReusingClient(redis.RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)  # pools are made once and kept for the cache's life
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(redis.RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _ReusingClient
