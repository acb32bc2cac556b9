-- Per-guild copies of keyword lists and topic queries. A guild starts from the config's lists and
-- topics; its first edit copies the list (or topic) here, and its changes touch no other guild.

CREATE TABLE guild_lists (
    guild_id   INTEGER NOT NULL,
    name       TEXT NOT NULL,
    terms      TEXT NOT NULL,           -- JSON array, in the admin's order
    updated_by INTEGER,
    updated_at REAL NOT NULL,
    PRIMARY KEY (guild_id, name)
);

CREATE TABLE guild_topics (
    guild_id   INTEGER NOT NULL,
    name       TEXT NOT NULL,
    query      TEXT NOT NULL,
    updated_by INTEGER,
    updated_at REAL NOT NULL,
    PRIMARY KEY (guild_id, name)
);
CREATE INDEX subscriptions_destination ON subscriptions (kind, destination);
