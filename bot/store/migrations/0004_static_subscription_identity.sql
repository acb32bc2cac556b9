-- Static subscriptions (guild_id NULL: console output, webhooks from the config file) never
-- matched UNIQUE (guild_id, kind, destination, topic), since NULLs are distinct in SQLite: each
-- start inserted a new row and paused the previous one as "removed from config", which hid its
-- pending alerts for good (found by the SIGKILL fault test, issue 6). Duplicates are merged into
-- the newest row (the one the running config uses) with their outbox rows, and an index on
-- IFNULL(guild_id, 0) gives the config's upsert a conflict target that matches them.

UPDATE OR IGNORE outbox SET subscription_id = (
    SELECT MAX(keep.id) FROM subscriptions keep JOIN subscriptions old
        ON keep.kind = old.kind AND keep.destination = old.destination AND keep.topic = old.topic
    WHERE old.id = outbox.subscription_id AND keep.guild_id IS NULL
)
WHERE subscription_id IN (SELECT id FROM subscriptions WHERE guild_id IS NULL);

-- What could not move is the same story for the same destination: it goes with its row.
DELETE FROM subscriptions WHERE guild_id IS NULL AND id < (
    SELECT MAX(keep.id) FROM subscriptions keep
    WHERE keep.guild_id IS NULL AND keep.kind = subscriptions.kind
        AND keep.destination = subscriptions.destination AND keep.topic = subscriptions.topic
);

CREATE UNIQUE INDEX subscriptions_target
    ON subscriptions (IFNULL(guild_id, 0), kind, destination, topic);
