"""Benchmark: the matching engine against a per-topic regex baseline, in the same run.

Items: synthetic news items (title + 80–150 word body) in English, Russian, Azerbaijani, Persian
and Armenian, drawn with a fixed seed from a news vocabulary: function words by Zipf frequency,
content words by Zipf frequency — ~150 hand-written news words per language (politics, security,
economy, places, people) as the frequent head, 4,000 generated words per language in its letters
as the long tail —, Russian, Azerbaijani and Armenian words with case endings, punctuation.

Topics: each a query over ~30 content words (8 news words and 22 tail words, from one or two
languages) mixing
OR groups, AND, a phrase, a NEAR and a prefix, plus a NOT group, e.g.::

    (w1 OR w2 OR ... w8) AND (w9 OR ... w14) AND ("w15 w16" OR w17 OR w18)
      AND (w19 NEAR/6 (w20 OR w21)) AND (w22* OR w23 OR w24) AND NOT (w25 OR w26)
    or, for a third of them, the same blocks as (A AND B AND C) OR (D AND E AND NOT ...).

Baseline: what keyword-list bots do — one compiled case-insensitive regex per topic (an
alternation of the topic's words, phrases and prefixes), searched in each item; it answers only
"does any word occur", so it does less work per topic than the engine. It is measured on a sample
of items (it is slow at many topics); items/s is computed from that sample.

Run:  .venv/bin/python bench/match.py [--items 10000] [--repeat 3] [--topics 10,1000,10000]
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.core.engine import DocIndex, Engine, WordStats, word_stats
from bot.core.types import Document, TopicDef

SEED = 20260101

FUNCTION_WORDS = {
    "en": "the of and to in a that for on is with was as by said at from it has have be are "
    "will its an which were after but not this had their also been who over more than "
    "about into other new would two could they we",
    "ru": "в и на с по не что из за к о от для как это у а его до также при об был было "
    "будет который которые после их он она они то же или уже так этом всех между "
    "более может сообщил заявил",
    "az": "və bu bir ilə da də ki üçün olan olub edib isə həm artıq daha sonra görə ilk "
    "iki həmçinin bildirib deyib qeyd edilib arasında tərəfindən hər onun isə bütün "
    "belə yeni",
    "fa": "و در به از که این با را است برای آن یک تا بر شد می کرد کرده شده خود نیز "
    "هم بین پس اما او ما گفت اعلام گزارش داد همچنین دو دیگر کند باید",
    "hy": "և է ու որ են այդ մասին հետ համար նաև իր այն էր կլինի թե բայց մեջ վրա կողմից "
    "ասել հայտնել նշել երկու այս հետո միայն ինչպես նոր բոլոր",
}

CONTENT_WORDS = {
    "en": "Iran Azerbaijan Armenia Russia Turkey Georgia Israel Baku Tehran Yerevan Moscow "
    "Ankara Tbilisi border military drills army troops security minister ministry president "
    "government talks agreement corridor railway road bridge river dam customs crossing "
    "transit trade gas oil pipeline exports energy sanctions embassy ambassador diplomat "
    "spokesman statement visit summit meeting cooperation exercise forces navy drone drones "
    "missile missiles attack strike defense intelligence police arrest detained drivers "
    "trucks cargo freight port Caspian sea airspace aircraft helicopter tanks artillery "
    "peace treaty negotiations election parliament opposition protest court investment "
    "bank currency inflation prices economy market tourism pilgrims earthquake flood "
    "weather Aras Araz Nakhchivan Zangezur Syunik Meghri Goris Kapan Astara Rasht Jolfa "
    "Julfa Khudafarin Lachin Karabakh Shusha Tabriz Ardabil Urmia Lankaran Ganja Sumgait "
    "Aliyev Pezeshkian Pashinyan Putin Erdogan Khamenei Araghchi Bayramov Mirzoyan "
    "Lavrov Fidan refugees migrants water electricity construction project funding loan "
    "contract company shares football championship Grand Prix festival film culture "
    "university students health hospital vaccine",
    "ru": "Иран Азербайджан Армения Россия Турция Грузия Израиль Баку Тегеран Ереван Москва "
    "Анкара граница военные учения армия войска безопасность министр министерство президент "
    "правительство переговоры соглашение коридор железная дорога мост река плотина таможня "
    "пункт пропуска транзит торговля газ нефть трубопровод экспорт энергетика санкции "
    "посольство посол дипломат заявление визит саммит встреча сотрудничество силы флот "
    "беспилотник ракета удар оборона разведка полиция задержан водители грузовики груз порт "
    "Каспий море воздушное пространство самолет вертолет танки артиллерия мир договор "
    "выборы парламент оппозиция протест суд инвестиции банк валюта инфляция цены экономика "
    "рынок туризм землетрясение наводнение погода Аракс Нахичевань Зангезур Сюник Мегри "
    "Горис Капан Астара Решт Джульфа Худаферин Лачин Карабах Шуша Тебриз Ардебиль Алиев "
    "Пезешкиан Пашинян Путин Эрдоган Хаменеи Лавров беженцы вода электричество строительство "
    "проект финансирование кредит контракт компания акции футбол чемпионат фестиваль",
    "az": "İran Azərbaycan Ermənistan Rusiya Türkiyə Gürcüstan İsrail Bakı Tehran İrəvan "
    "Moskva Ankara sərhəd hərbi təlim ordu qoşun təhlükəsizlik nazir nazirlik prezident "
    "hökumət danışıqlar razılaşma dəhliz dəmir yolu körpü çay su anbarı gömrük keçid "
    "tranzit ticarət qaz neft boru kəməri ixrac enerji sanksiyalar səfirlik səfir diplomat "
    "bəyanat səfər sammit görüş əməkdaşlıq qüvvələr donanma dron raket zərbə müdafiə "
    "kəşfiyyat polis saxlanılıb sürücülər yük maşınları liman Xəzər dəniz hava məkanı "
    "təyyarə helikopter tank artilleriya sülh müqavilə seçki parlament müxalifət etiraz "
    "məhkəmə investisiya bank valyuta inflyasiya qiymətlər iqtisadiyyat bazar turizm "
    "zəlzələ daşqın hava Araz Naxçıvan Zəngəzur Astara Culfa Xudafərin Laçın Qarabağ "
    "Şuşa Təbriz Ərdəbil Lənkəran Gəncə Sumqayıt Əliyev Pezeşkian Paşinyan Putin Ərdoğan "
    "Bayramov qaçqınlar elektrik tikinti layihə maliyyə kredit şirkət futbol çempionat",
    "fa": "ایران آذربایجان ارمنستان روسیه ترکیه گرجستان اسرائیل باکو تهران ایروان مسکو مرز "
    "نظامی رزمایش ارتش نیروها امنیت وزیر وزارت رئیس جمهور دولت مذاکرات توافق کریدور راه "
    "آهن جاده پل رود ارس سد گمرک گذرگاه ترانزیت تجارت گاز نفت خط لوله صادرات انرژی "
    "تحریم سفارت سفیر دیپلمات بیانیه سفر اجلاس دیدار همکاری سپاه نیروی دریایی پهپاد موشک "
    "حمله دفاع اطلاعات پلیس بازداشت رانندگان کامیون بار بندر خزر دریا حریم هوایی هواپیما "
    "بالگرد تانک توپخانه صلح پیمان انتخابات مجلس اعتراض دادگاه سرمایه گذاری بانک ارز تورم "
    "قیمت اقتصاد بازار گردشگری زلزله سیل هوا نخجوان زنگزور سیونیک مگری آستارا رشت جلفا "
    "خداآفرین قره باغ تبریز اردبیل ارومیه علیاف پزشکیان پاشینیان پوتین اردوغان خامنه ای "
    "عراقچی پناهندگان آب برق ساخت پروژه وام قرارداد شرکت فوتبال",
    "hy": "Իրան Ադրբեջան Հայաստան Ռուսաստան Թուրքիա Վրաստան Իսրայել Բաքու Թեհրան Երևան "
    "Մոսկվա սահման ռազմական զորավարժություն բանակ զորքեր անվտանգություն նախարար "
    "նախարարություն նախագահ կառավարություն բանակցություններ համաձայնագիր միջանցք երկաթուղի "
    "ճանապարհ կամուրջ գետ ամբարտակ մաքսատուն անցակետ տարանցում առևտուր գազ նավթ "
    "խողովակաշար արտահանում էներգետիկա պատժամիջոցներ դեսպանատուն դեսպան դիվանագետ "
    "հայտարարություն այց գագաթնաժողով հանդիպում համագործակցություն ուժեր անօդաչու հրթիռ "
    "հարված պաշտպանություն հետախուզություն ոստիկանություն ձերբակալված վարորդներ բեռնատարներ "
    "բեռ նավահանգիստ խաղաղություն պայմանագիր ընտրություններ խորհրդարան ընդդիմություն "
    "բողոք դատարան ներդրումներ բանկ արժույթ գնաճ գներ տնտեսություն շուկա զբոսաշրջություն "
    "երկրաշարժ ջրհեղեղ եղանակ Արաքս Նախիջևան Զանգեզուր Սյունիք Մեղրի Գորիս Կապան Ջուլֆա "
    "Ալիև Փեզեշկիան Փաշինյան Պուտին Էրդողան փախստականներ ջուր էլեկտրաէներգիա շինարարություն "
    "նախագիծ վարկ ընկերություն ֆուտբոլ",
}

# Letters for the long tail of generated words (see `tail_words`).
LETTERS = {
    "en": ("bcdfghklmnprstvwz", "aeiou"),
    "ru": ("бвгдзклмнпрстфхцчшж", "аеиоуыяю"),
    "az": ("bcçdfgğhxjklmnprsştvyz", "aeəıioöuü"),
    "fa": ("بپتجچحخدرزسشعغفقکگلمنوهی", "اوی"),
    "hy": ("բգդզթժլխծկհձղճմյնշչպջռսվտրցփքֆ", "աեէըիոու"),
}
TAIL_WORDS = 4000  # per language

# Case endings added to some content words (inflected languages): exercises prefix queries.
ENDINGS = {
    "ru": ["а", "у", "ом", "е", "ы", "ов", "ами"],
    "az": ["ın", "a", "da", "dan", "la", "ı", "ın", "in"],
    "hy": ["ի", "ը", "ում", "ից"],
}
LANG_WEIGHTS = {"en": 0.40, "ru": 0.25, "az": 0.15, "fa": 0.12, "hy": 0.08}


def _zipf_weights(n: int, s: float = 1.0) -> list[float]:
    return [1.0 / (rank**s) for rank in range(1, n + 1)]


@dataclass(frozen=True)
class Vocabulary:
    function: dict[str, list[str]]
    content: dict[str, list[str]]
    f_weights: dict[str, list[float]]
    c_weights: dict[str, list[float]]


def tail_words(rng: random.Random, lang: str, n: int, taken: set[str]) -> list[str]:
    """Generated words in the language's letters, 4–11 letters long, a fifth capitalised.

    A day of real news has tens of thousands of distinct words; the hand-written lists above
    are only the most frequent ones. These stand in for the long tail (names, rarer words).
    """
    consonants, vowels = LETTERS[lang]
    out: list[str] = []
    while len(out) < n:
        length = rng.randint(4, 11)
        word = "".join(
            rng.choice(vowels if (i % 2 == 1) != (rng.random() < 0.15) else consonants)
            for i in range(length)
        )
        if rng.random() < 0.2:
            word = word[:1].upper() + word[1:]
        if word.lower() not in taken:
            taken.add(word.lower())
            out.append(word)
    return out


def vocabulary(rng: random.Random) -> Vocabulary:
    function = {lang: words.split() for lang, words in FUNCTION_WORDS.items()}
    content: dict[str, list[str]] = {}
    for lang, words in CONTENT_WORDS.items():
        shuffled = words.split()
        rng.shuffle(shuffled)  # Zipf ranks: a random, fixed order of "popularity"
        taken = {w.lower() for w in shuffled + function[lang]}
        # real news words are the head of the distribution, generated words the tail
        content[lang] = shuffled + tail_words(rng, lang, TAIL_WORDS, taken)
    return Vocabulary(
        function,
        content,
        {lang: _zipf_weights(len(w)) for lang, w in function.items()},
        {lang: _zipf_weights(len(w), 0.9) for lang, w in content.items()},
    )


def make_item(rng: random.Random, vocab: Vocabulary) -> Document:
    lang = rng.choices(list(LANG_WEIGHTS), weights=list(LANG_WEIGHTS.values()))[0]

    def word() -> str:
        if rng.random() < 0.45:
            return rng.choices(vocab.function[lang], vocab.f_weights[lang])[0]
        w = rng.choices(vocab.content[lang], vocab.c_weights[lang])[0]
        if lang in ENDINGS and rng.random() < 0.35:
            w += rng.choice(ENDINGS[lang])
        return w

    def sentence(n: int) -> str:
        words = [word() for _ in range(n)]
        words[0] = words[0][:1].upper() + words[0][1:]
        if n > 8 and rng.random() < 0.5:
            words[rng.randrange(2, n - 2)] += ","
        return " ".join(words) + rng.choice([".", ".", ".", "!", "?", ":"])

    title = sentence(rng.randint(6, 12)).rstrip(".!?:")
    target = rng.randint(80, 150)
    parts: list[str] = []
    count = 0
    while count < target:
        n = min(rng.randint(10, 24), target - count)
        n = max(n, 3)
        parts.append(sentence(n))
        count += n
    return Document(title, " ".join(parts))


@dataclass(frozen=True)
class BenchTopic:
    topic: TopicDef
    regex_parts: tuple[str, ...]  # for the baseline


def make_topic(rng: random.Random, vocab: Vocabulary, index: int) -> BenchTopic:
    langs = rng.sample(list(CONTENT_WORDS), k=rng.choice([1, 1, 2]))
    head = sorted({w for lang in langs for w in CONTENT_WORDS[lang].split()})
    tail = sorted({w for lang in langs for w in vocab.content[lang]} - set(head))
    # a quarter well-known news words, the rest rarer ones (names, places, specific terms)
    words = rng.sample(head, 8) + rng.sample(tail, 22)
    rng.shuffle(words)
    regex: list[str] = []

    def take(n: int) -> list[str]:
        out = [words.pop() for _ in range(n)]
        regex.extend(re.escape(w) for w in out)
        return out

    def group(ws: Sequence[str]) -> str:
        return "(" + " OR ".join(ws) + ")"

    a = group(take(8))
    b = group(take(6))
    p1, p2 = take(2)
    regex[-2:] = [re.escape(p1) + r"\s+" + re.escape(p2)]
    c = f'("{p1} {p2}" OR {" OR ".join(take(2))})'
    near_left = take(1)[0]
    d = f"({near_left} NEAR/6 {group(take(2))})"
    pre = take(1)[0]
    stem = pre[: max(3, len(pre) - 2)]
    regex[-1] = re.escape(stem) + r"\w*"
    e = f"({stem}* OR {' OR '.join(take(3))})"
    neg = group(take(3))
    if rng.random() < 1 / 3:
        query = f"({a} AND {b} AND {c}) OR ({d} AND {e}) AND NOT {neg}"
    else:
        query = f"{a} AND {b} AND {c} AND {d} AND {e} AND NOT {neg}"
    return BenchTopic(TopicDef(f"t{index}", query), tuple(regex))


def _percentile(sorted_ns: Sequence[int], q: float) -> float:
    k = min(len(sorted_ns) - 1, max(0, round(q * (len(sorted_ns) - 1))))
    return sorted_ns[k] / 1000.0  # microseconds


@dataclass(frozen=True)
class Run:
    items_per_s: float
    p50_us: float
    p99_us: float
    matches: int
    items: int
    per_item_ns: tuple[int, ...]  # in item order


def timed(fn: Callable[[Document], int], items: Sequence[Document]) -> Run:
    per_item: list[int] = []
    matches = 0
    gc.collect()
    gc.disable()
    try:
        clock = time.perf_counter_ns
        total_start = clock()
        for item in items:
            t0 = clock()
            matches += fn(item)
            per_item.append(clock() - t0)
        total = clock() - total_start
    finally:
        gc.enable()
    ordered = sorted(per_item)
    return Run(
        len(items) / (total / 1e9),
        _percentile(ordered, 0.50),
        _percentile(ordered, 0.99),
        matches,
        len(items),
        tuple(per_item),
    )


def p99_of_fastest(runs: Sequence[Run]) -> float:
    """p99 over items of each item's fastest time across the runs: what an item costs when the
    process is not preempted (the machine is shared; single-run tails include other work)."""
    fastest = sorted(min(times) for times in zip(*(r.per_item_ns for r in runs), strict=True))
    return _percentile(fastest, 0.99)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=1, help="runs per configuration; medians shown")
    ap.add_argument("--topics", default="10,1000,10000", help="comma-separated topic counts")
    ap.add_argument(
        "--no-stats",
        action="store_true",
        help="build the engine without word statistics (anchors chosen by word length only)",
    )
    ap.add_argument(
        "--baseline-budget",
        type=int,
        default=400_000,
        help="regex searches per baseline run (items sampled = budget / topics, at least 30)",
    )
    args = ap.parse_args(argv)

    rng = random.Random(SEED)
    vocab = vocabulary(rng)
    items = [make_item(rng, vocab) for _ in range(args.items)]
    counts = [int(c) for c in args.topics.split(",")]
    all_topics = [make_topic(rng, vocab, i) for i in range(max(counts))]
    # Word statistics as a running bot would have them: from earlier items of the same stream
    # (a separate sample, not the measured items).
    warmup_rng = random.Random(SEED + 1)
    stats: WordStats | None = None
    if not args.no_stats:
        stats = word_stats(make_item(warmup_rng, vocab) for _ in range(2000))
    words = [len((d.title + " " + d.body).split()) for d in items]
    print(
        f"{len(items)} items, {statistics.mean(words):.0f} words on average "
        f"({min(words)}–{max(words)}); topics of ~30 words; seed {SEED}; repeat {args.repeat}"
    )
    print(f"example topic: {all_topics[0].topic.query}")
    print(
        "engine built with word statistics from 2,000 earlier items\n"
        if stats
        else "engine built WITHOUT word statistics (--no-stats)\n"
    )

    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    header = (
        f"{'topics':>7} | {'engine items/s':>14} {'p50 µs':>8} {'p99 µs':>8} {'p99* µs':>8}"
        f" {'build s':>7}"
        f" | {'regex items/s':>13} {'p50 µs':>9} {'p99 µs':>9} {'sample':>6} | {'speed-up':>8}"
        f" | {'cand/item':>9} {'match/item':>10}"
    )
    print(header)
    print("-" * len(header))
    for n in counts:
        topics = all_topics[:n]
        t0 = time.perf_counter()
        engine = Engine((t.topic for t in topics), stats=stats)
        build_s = time.perf_counter() - t0
        regexes = [
            re.compile(r"\b(?:" + "|".join(t.regex_parts) + r")\b", re.IGNORECASE) for t in topics
        ]

        def engine_fn(doc: Document, engine: Engine = engine) -> int:
            return len(engine.match(doc))

        def regex_fn(doc: Document, regexes: list[re.Pattern[str]] = regexes) -> int:
            text = doc.title + "\n" + doc.body
            return sum(1 for r in regexes if r.search(text))

        sample = items[: max(30, min(len(items), args.baseline_budget // n))]
        engine_runs = [timed(engine_fn, items) for _ in range(args.repeat)]
        regex_runs = [timed(regex_fn, sample) for _ in range(args.repeat)]

        cand = statistics.mean(
            len(engine.candidates(engine.present_atoms(DocIndex(d)))) for d in items[:500]
        )

        def med(runs: list[Run], attr: str) -> float:
            return float(statistics.median(float(getattr(r, attr)) for r in runs))

        e_ips, r_ips = med(engine_runs, "items_per_s"), med(regex_runs, "items_per_s")
        print(
            f"{n:>7} | {e_ips:>14,.0f} {med(engine_runs, 'p50_us'):>8,.0f} "
            f"{med(engine_runs, 'p99_us'):>8,.0f} {p99_of_fastest(engine_runs):>8,.0f}"
            f" {build_s:>7.2f}"
            f" | {r_ips:>13,.1f} {med(regex_runs, 'p50_us'):>9,.0f} "
            f"{med(regex_runs, 'p99_us'):>9,.0f} {len(sample):>6} | {e_ips / r_ips:>7,.0f}×"
            f" | {cand:>9.1f} {engine_runs[0].matches / len(items):>10.3f}",
            flush=True,
        )
    print(
        "\nengine: Engine.match (fold, tokenize, candidates, evaluation, score/spans of matches)"
        "\nregex: one IGNORECASE alternation per topic, searched in title+body (no AND/NOT logic)"
        "\ncand/item: topics evaluated per item after the term index (first 500 items)"
        "\nitems/s, p50, p99: medians over the runs; p99*: p99 of each item's fastest run"
    )
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
