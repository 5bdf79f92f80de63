"""Two-level cache: an in-process TTL/LRU layer (L1) over Redis (L2), with the seed's key layout."""
