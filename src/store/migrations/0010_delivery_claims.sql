-- Which coordinator acts on a repository's webhook deliveries, and until when. With replicas,
-- each takes deliveries; one claim per repository keeps them acted on in order, by one replica
-- at a time. A claim that was not renewed (its replica died) can be taken by another.
CREATE TABLE delivery_claims (
  repo TEXT PRIMARY KEY REFERENCES repositories (name) ON DELETE CASCADE,
  owner TEXT NOT NULL,
  claimed_until INTEGER NOT NULL
);
