-- Initial schema. Times are UTC seconds since the epoch (REAL). Never edit an applied migration:
-- add a new numbered file instead.

CREATE TABLE feeds (
    id               INTEGER PRIMARY KEY,
    url              TEXT NOT NULL UNIQUE,
    name             TEXT,              -- operator's name for it (config or /feeds add)
    title            TEXT,              -- the feed's own title, from the last good parse
    interval_minutes REAL,              -- NULL: the configured default
    from_config      INTEGER NOT NULL DEFAULT 0,
    added_at         REAL NOT NULL,
    etag             TEXT,
    last_modified    TEXT,
    body_hash        TEXT,
    ttl_minutes      INTEGER,
    baselined        INTEGER NOT NULL DEFAULT 0,  -- first successful poll done
    last_poll_at     REAL,
    last_success_at  REAL,
    next_poll_at     REAL,
    error_count      INTEGER NOT NULL DEFAULT 0,  -- consecutive failures
    total_errors     INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    last_error_at    REAL,
    items_seen       INTEGER NOT NULL DEFAULT 0
);

-- Which guild follows which feed. Config feeds apply to every guild and need no row here.
CREATE TABLE guild_feeds (
    guild_id   INTEGER NOT NULL,
    feed_id    INTEGER NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
    name       TEXT,
    added_by   INTEGER,
    added_at   REAL NOT NULL,
    PRIMARY KEY (guild_id, feed_id)
);

CREATE TABLE items (
    id              INTEGER PRIMARY KEY,
    feed_id         INTEGER NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
    key             TEXT NOT NULL,
    title           TEXT NOT NULL,
    link            TEXT,
    summary         TEXT NOT NULL,
    authors         TEXT NOT NULL DEFAULT '',
    image           TEXT,
    published_at    REAL NOT NULL,      -- the feed's date, or first_seen_at when it gave none
    updated_at      REAL,
    first_seen_at   REAL NOT NULL,
    last_changed_at REAL,
    content_hash    TEXT NOT NULL,
    update_count    INTEGER NOT NULL DEFAULT 0,
    baseline        INTEGER NOT NULL DEFAULT 0, -- recorded on a feed's first poll, never alerted
    pruned          INTEGER NOT NULL DEFAULT 0, -- retention dropped the text; the key stays
    UNIQUE (feed_id, key)
);
CREATE INDEX items_published ON items (published_at);
CREATE INDEX items_link ON items (link);

-- What the engine found for an item, per topic (kept for /why and /latest).
CREATE TABLE item_matches (
    item_id  INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    topic    TEXT NOT NULL,
    score    REAL NOT NULL,
    terms    TEXT NOT NULL,             -- JSON array
    PRIMARY KEY (item_id, topic)
);

CREATE TABLE subscriptions (
    id            INTEGER PRIMARY KEY,
    guild_id      INTEGER,              -- NULL for static subscriptions from the config file
    kind          TEXT NOT NULL CHECK (kind IN ('channel', 'webhook', 'console')),
    destination   TEXT NOT NULL,        -- channel id, webhook URL, or 'console'
    topic         TEXT NOT NULL,
    min_score     REAL NOT NULL DEFAULT 0,
    role_id       INTEGER,
    mode          TEXT NOT NULL DEFAULT 'instant' CHECK (mode IN ('instant', 'digest')),
    paused        INTEGER NOT NULL DEFAULT 0,
    paused_reason TEXT,
    created_by    INTEGER,
    created_at    REAL NOT NULL,
    from_config   INTEGER NOT NULL DEFAULT 0,
    UNIQUE (guild_id, kind, destination, topic)
);

-- One row per (subscription, story), written in the poll's transaction before any send.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    subscription_id INTEGER NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,
    item_id         INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    story_key       TEXT NOT NULL,      -- canonical link or folded title: one post per story
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sent', 'failed')),
    score           REAL NOT NULL,
    terms           TEXT NOT NULL,      -- JSON array
    summary         TEXT NOT NULL,      -- rendered query-biased summary
    nonce           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      REAL NOT NULL,
    next_attempt_at REAL NOT NULL,
    sent_at         REAL,
    message_id      TEXT,
    last_error      TEXT,
    UNIQUE (subscription_id, story_key)
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at, id);

CREATE VIRTUAL TABLE items_fts USING fts5(
    title, summary,
    content='items', content_rowid='id',
    tokenize='unicode61 remove_diacritics 2'
);
CREATE TRIGGER items_ai AFTER INSERT ON items BEGIN
    INSERT INTO items_fts(rowid, title, summary) VALUES (new.id, new.title, new.summary);
END;
CREATE TRIGGER items_ad AFTER DELETE ON items BEGIN
    INSERT INTO items_fts(items_fts, rowid, title, summary)
    VALUES ('delete', old.id, old.title, old.summary);
END;
CREATE TRIGGER items_au AFTER UPDATE OF title, summary ON items BEGIN
    INSERT INTO items_fts(items_fts, rowid, title, summary)
    VALUES ('delete', old.id, old.title, old.summary);
    INSERT INTO items_fts(rowid, title, summary) VALUES (new.id, new.title, new.summary);
END;
