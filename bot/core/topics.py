"""Which topic definitions exist: the config's, and each guild's customised copies. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.core.types import TopicDef


@dataclass(frozen=True)
class TopicCatalog:
    """Config topics and lists, overlaid per guild by what its admins changed.

    A guild that changed nothing shares the config's compiled topics (id = the topic's name); a
    guild that changed a list or a query gets its own ids ("g<guild>/<name>") so its edits never
    reach another guild.
    """

    base_lists: Mapping[str, tuple[str, ...]]
    base_topics: Mapping[str, str]
    guild_lists: Mapping[int, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)
    guild_topics: Mapping[int, Mapping[str, str]] = field(default_factory=dict)

    def customised(self, guild_id: int | None) -> bool:
        return guild_id is not None and (
            bool(self.guild_lists.get(guild_id)) or bool(self.guild_topics.get(guild_id))
        )

    def topic_id(self, guild_id: int | None, name: str) -> str:
        return f"g{guild_id}/{name}" if self.customised(guild_id) else name

    def lists_for(self, guild_id: int | None) -> dict[str, tuple[str, ...]]:
        lists = dict(self.base_lists)
        if guild_id is not None:
            lists.update(self.guild_lists.get(guild_id, {}))
        return lists

    def topic_names(self, guild_id: int | None) -> list[str]:
        names = set(self.base_topics)
        if guild_id is not None:
            names |= set(self.guild_topics.get(guild_id, {}))
        return sorted(names)

    def query_for(self, guild_id: int | None, name: str) -> str | None:
        if guild_id is not None and name in self.guild_topics.get(guild_id, {}):
            return self.guild_topics[guild_id][name]
        return self.base_topics.get(name)

    def definition(self, guild_id: int | None, name: str) -> TopicDef | None:
        query = self.query_for(guild_id, name)
        if query is None:
            return None
        lists = tuple(sorted(self.lists_for(guild_id).items()))
        return TopicDef(id=self.topic_id(guild_id, name), query=query, lists=lists)

    def definitions(self) -> list[TopicDef]:
        """Every topic to compile: the config's, plus each customised guild's own copies."""
        defs = [d for n in sorted(self.base_topics) if (d := self.definition(None, n))]
        guilds = sorted(set(self.guild_lists) | set(self.guild_topics))
        for gid in guilds:
            if self.customised(gid):
                defs += [d for n in self.topic_names(gid) if (d := self.definition(gid, n))]
        return defs
