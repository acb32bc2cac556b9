-- Full-text search that folds spelling the way the matcher does (bot.core.text.fold), so /search
-- finds "Naxçıvan" when a user types "naxcivan" and the reverse. FTS5's unicode61 tokenizer
-- already lowercases and (remove_diacritics 2) strips Latin accents; it does not touch the
-- letters below, which are whole letters rather than accents, and it splits Persian words at
-- the zero-width non-joiner. The view applies, in SQL, the part of fold() that unicode61 lacks:
--   ı -> i, ə/Ə -> e, ё/Ё -> е, ZWNJ/ZWJ/tatweel/soft hyphen removed,
--   Arabic yeh/alef maksura -> Persian yeh, Arabic kaf -> keheh, teh marbuta/ae -> heh,
--   alef with hamza/madda -> alef.
-- Queries are folded with bot.core.text.fold in bot/store/lookup.py.
--
-- items_fts (0001) is rebuilt over the view; its name and columns stay, so
-- "items_fts MATCH ?" and bm25(items_fts, ...) keep working. The view is the FTS content table,
-- so the 'rebuild' command re-indexes from it. Deletes must hand FTS5 the values it indexed:
-- BEFORE triggers read them from the view while the row still exists.

DROP TRIGGER items_ai;
DROP TRIGGER items_ad;
DROP TRIGGER items_au;
DROP TABLE items_fts;

CREATE VIEW items_search_text (id, title, summary) AS
SELECT id,
    replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(title, char(305), 'i'), char(601), 'e'), char(399), 'e'), char(1105), char(1077)), char(1025), char(1077)), char(8204), ''), char(8205), ''), char(1600), ''), char(173), ''), char(1610), char(1740)), char(1609), char(1740)), char(1603), char(1705)), char(1577), char(1607)), char(1749), char(1607)), char(1571), char(1575)), char(1573), char(1575)), char(1570), char(1575)),
    replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(summary, char(305), 'i'), char(601), 'e'), char(399), 'e'), char(1105), char(1077)), char(1025), char(1077)), char(8204), ''), char(8205), ''), char(1600), ''), char(173), ''), char(1610), char(1740)), char(1609), char(1740)), char(1603), char(1705)), char(1577), char(1607)), char(1749), char(1607)), char(1571), char(1575)), char(1573), char(1575)), char(1570), char(1575))
FROM items;

CREATE VIRTUAL TABLE items_fts USING fts5(
    title, summary,
    content='items_search_text', content_rowid='id',
    tokenize='unicode61 remove_diacritics 2'
);

CREATE TRIGGER items_fts_ai AFTER INSERT ON items BEGIN
    INSERT INTO items_fts(rowid, title, summary)
    SELECT id, title, summary FROM items_search_text WHERE id = new.id;
END;

CREATE TRIGGER items_fts_bd BEFORE DELETE ON items BEGIN
    INSERT INTO items_fts(items_fts, rowid, title, summary)
    SELECT 'delete', id, title, summary FROM items_search_text WHERE id = old.id;
END;

CREATE TRIGGER items_fts_bu BEFORE UPDATE OF title, summary ON items BEGIN
    INSERT INTO items_fts(items_fts, rowid, title, summary)
    SELECT 'delete', id, title, summary FROM items_search_text WHERE id = old.id;
END;

CREATE TRIGGER items_fts_au AFTER UPDATE OF title, summary ON items BEGIN
    INSERT INTO items_fts(rowid, title, summary)
    SELECT id, title, summary FROM items_search_text WHERE id = new.id;
END;

INSERT INTO items_fts(items_fts) VALUES ('rebuild');
