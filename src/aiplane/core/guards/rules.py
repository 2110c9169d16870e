"""Weighted patterns for what injections say: override the instructions, take on a new role,
leak the system prompt, send data out. English, German, Spanish and French.

A hit is evidence, not a verdict: each rule's weight is prior log-odds that the detector adds
to its model's score (see ``injection.py``), and the model was trained with those offsets in
place, so it learned what a hit is worth beside the rest of the text. The patterns read the
normalised view (lower case, look-alikes folded, spaced letters joined). Weights sit below the
threshold's log-odds for the phrases that benign text also says ("ignore the previous
message", "what is a system prompt?"); only the unmistakable ones ("ignore all previous
instructions and ...") reach it alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Cue(StrEnum):
    OVERRIDE = "override"  # ignore / forget / disregard the previous instructions
    NEW_TASK = "new_task"  # "your new task is", "from now on"
    ROLE = "role"  # "you are now DAN", "act as an unrestricted AI", developer mode
    LEAK = "leak"  # print the system prompt, repeat the words above
    EXFIL = "exfiltration"  # send the data to a URL, markdown image beacons
    HIDDEN = "hidden"  # addressed to the AI reading a document, hidden HTML


@dataclass(frozen=True)
class Rule:
    name: str
    cue: Cue
    weight: float  # prior log-odds added to the score when the rule hits
    pattern: re.Pattern[str]
    # Substrings one of which every match contains: a cheap test before the regex runs (a
    # pattern that starts with a long alternation is tried at every position otherwise).
    anchors: tuple[str, ...] = ()
    # Only in a document: what a user may rightly ask in a prompt ("in your answer, include
    # the sources") is an injection when a retrieved page says it to the model.
    documents_only: bool = False
    # The match must open a sentence or follow a connective (an order, not a statement).
    opens: bool = False
    # An order reported as given to the user ("my doctor told me to disregard ...") is none.
    reported: bool = False
    # The pattern began with \b, checked after a match instead: a pattern that starts with
    # its alternation lets the regex engine skip ahead by first letter (3x faster here).
    word_start: bool = False


@dataclass(frozen=True)
class Hit:
    rule: Rule
    start: int  # offsets into the view
    end: int


def _r(
    name: str,
    cue: Cue,
    weight: float,
    pattern: str,
    *,
    documents_only: bool = False,
    opens: bool = False,
    reported: bool = False,
) -> Rule:
    word_start = pattern.startswith("\\b") and _single_branch(pattern)
    compiled = re.compile(pattern[2:] if word_start else pattern, re.DOTALL)
    return Rule(
        name, cue, weight, compiled, _ANCHORS[name], documents_only, opens, reported, word_start
    )


def _single_branch(pattern: str) -> bool:
    """Whether ``pattern`` has no top-level alternation (then its leading \\b can move)."""
    depth = 0
    escaped = False
    in_class = False
    for ch in pattern:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            return False
    return True


# The verb stems an override starts with; both override rules share them.
_OVERRIDE_VERBS = (
    "ignor",
    "disregard",
    "forget",
    "overrid",
    "overwrit",
    "bypass",
    "skip",
    "drop",
    "discard",
    "abandon",
    "neglect",
    "dismiss",
    "delet",
    "erase",
    "cancel",
)

_ANCHORS: dict[str, tuple[str, ...]] = {
    "override": _OVERRIDE_VERBS,
    "override_weak": _OVERRIDE_VERBS,
    "override_everything": ("ignore", "forget", "disregard"),
    "praise_then_now": (
        "done",
        "job",
        "excellent",
        "perfect",
        "very good",
        "sehr gut",
        "gemacht",
        "super",
        "prima",
        "muy bien",
        "très bien",
    ),
    "override_bare": ("ignore", "disregard", "forget", "despite", "regardless", "no matter"),
    "override_de_end": ("ignorieren", "vergessen", "missachten", "verwerfen"),
    "fake_instruction": (
        "instruction",
        "task",
        "command",
        "system",
        "anweisung",
        "instrucc",
        "consigne",
    ),
    "override_de": (
        "ignorier",
        "vergiss",
        "vergess",
        "missacht",
        "überschreib",
        "verwirf",
        "lösch",
        "übergeh",
    ),
    "override_es": ("ignora", "olvida", "descarta", "omit", "anula", "pasa por alto"),
    "override_fr": ("ignore", "oubli", "néglige", "annule", "abstraction"),
    "override_user": ("ignore", "disregard", "forget", "override"),
    "new_task": ("new", "neue", "nueva", "nouvelle"),
    "instead": ("instead", "rather", "statt", "en su", "en lugar", "à la place"),
    "stop_task": (
        "stop",
        "end",
        "abort",
        "quit",
        "focus on",
        "concentrate on",
        "enough",
        "done",
        "erledigt",
        "terminaste",
        "está",
        "c'est fait",
    ),
    "you_are_now": ("you are", "you're", "du bist", "ahora eres", "tu es"),
    "persona": ("dan", "stan", "dude", "aim", "mode", "do anything", "ethical", "moral", "without"),
    "act_as_unrestricted": ("act", "behave", "respond", "answer"),
    "pretend": (
        "pretend",
        "imagine",
        "roleplay",
        "role-play",
        "tu so",
        "stell dir",
        "finge",
        "imagina",
        "semblant",
    ),
    "no_rules": ("you have no", "bound by", "must follow no", "free"),
    "leak_prompt": (
        "prompt",
        "instructions",
        "message",
        "configuration",
        "rules",
        "guidelines",
        "directives",
    ),
    "leak_above": ("above", "before", "prior", "preceding", "written", "said", "beginning with"),
    "leak_secret": (
        "password",
        "secret",
        "api key",
        "credentials",
        "token",
        "passwort",
        "geheim",
        "systemprompt",
        "anweisungen",
    ),
    "exfil_send": ("http", "www.", "@"),
    "beacon": ("http",),
    "address_ai_reading": ("reading", "processing", "summari", "analy", "reviewing", "parsing"),
    "address_ai_note": (
        "note",
        "attention",
        "important",
        "instruction",
        "message",
        "dear ",
        "hey ",
        "hello ",
        "hi ",
        "if you are",
    ),
    "address_ai_colon": (
        "ai:",
        "ai,",
        "ai :",
        "assistant:",
        "assistant,",
        "assistant :",
        "chatbot:",
        "chatbot,",
        "llm:",
        "llm,",
        "gpt:",
        "gpt,",
        "model:",
        "model,",
        "agent:",
        "agent,",
        "bot:",
        "bot,",
    ),
    "address_ai_when": ("when ",),
    "jailbreak_markers": (
        "character",
        "polic",
        "abide",
        "confines",
        "freed",
        "censor",
        "refuse",
        "jailbr",
        "unfiltered",
        "responses",
        "immerse",
        "the role of",
    ),
    "alter_output": ("answer", "reply", "response", "summary", "output"),
    "steer_user": ("user", "reader", "customer", "recipient"),
    "hidden_html": ("display", "visibility", "font-size", "color", "opacity"),
    "fake_turn": ("system", "assistant", "<|", "inst]", "<<sys", "end of"),
}


# "... the previous instructions I gave": the user taking back their own words, not an override.
_NOT_MINE = r"(?!\W+(?:i|we)\W+(?:gave|sent|wrote|said|made|posted|left|provided|mentioned|had))"
# "my doctor told me to disregard the previous dosage instructions": an order to the user,
# reported, not one to the model.
_TOLD = re.compile(r"\b(?:me|us) to $")
# Between the verb and what it overrides only words that point back or count ("ignore all of
# your previous instructions"), so "ignore comment lines, as the config rules say" is no hit.
_FILL = r"(?:(?:all|of|the|your|any|these|those|every|and|or|other|such)\W+)"
_EN_VERB = (
    r"(?:ignor(?:e|ing)|disregard(?:ing)?|forget(?:ting)?|override|overwrite|bypass|skip|drop|"
    r"discard|abandon|neglect|dismiss|delete|erase|cancel)"
)
_EN_PRIOR = (
    r"(?:previous|prior|above|earlier|preceding|original|initial|former|old|system|developer|"
    r"given|existing|current|safety|default|last|past|your|all)"
)
_EN_RULES = (
    r"(?:instructions?|rules?|directives?|directions?|guidelines?|prompts?|commands?|orders?|"
    r"context|"
    r"constraints?|restrictions?|guardrails?|programming|training|tasks?|policies|policy|"
    r"filters?|safeguards?|thoughts|knowledge|memory|memories|articles?|documents?|texts?|"
    r"information|input|content|statements?)"
)
_DE_VERB = (
    r"(?:ignoriere|ignorier|ignorieren|vergiss|vergessen|vergesst|missachte|missachten|"
    r"überschreibe|überschreiben|verwirf|lösche|löschen|übergehe|übergehen)"
)
_DE_RULES = (
    r"(?:anweisung\w*|instruktion\w*|regeln|vorgaben|befehle?|aufgaben?|anordnung\w*|"
    r"richtlinien|einschränkungen|kontext)"
)
# Spanish and French orders open a sentence or follow a connective ("y ahora olvida ..."):
# "mi perro ignora las órdenes" is a statement, not an order.
_OPENS = re.compile(
    r"(?:^|[.!?,;:\n\"'«(]\s*|\b(?:y|e|ahora|luego|por favor|et|puis|maintenant|alors|donc|"
    r"s'il te plaît|s'il vous plaît)\s+)$"
)
_ES_VERB = (
    r"(?:ignora|ignore|ignoren|olvida|olvide|olviden|descarta|descarte|omite|anula|pasa por alto)"
)
_ES_RULES = r"(?:instrucciones|reglas|órdenes|indicaciones|directrices|restricciones|tareas?)"
_FR_VERB = r"(?:ignore[rz]?|oublie[rz]?|oubliez|néglige[rz]?|annule[rz]?|fais abstraction)"
_FR_RULES = r"(?:instructions|règles|consignes|directives|ordres|restrictions|tâches?)"

RULES: tuple[Rule, ...] = (
    # Instruction override: the verb, a word that points back, what is overridden.
    _r(
        "override",
        Cue.OVERRIDE,
        3.0,
        rf"\b{_EN_VERB}\W+{_FILL}{{0,4}}{_EN_PRIOR}\W+(?:{_FILL}|{_EN_PRIOR}\W+|\w+\W+)?{_EN_RULES}\b"
        + _NOT_MINE,
        reported=True,
    ),
    _r(
        "override_weak",
        Cue.OVERRIDE,
        1.5,
        rf"\b{_EN_VERB}\W+{_FILL}{{1,3}}{_EN_RULES}\b",
        reported=True,
    ),
    _r(
        "override_everything",
        Cue.OVERRIDE,
        2.0,
        r"\b(?:ignore|forget|disregard)\s+(?:everything|all|anything)\s+"
        r"(?:(?:you\s+(?:were|have\s+been)\s+(?:told|given|asked))|(?:said|written|stated)?\s*"
        r"(?:above|before|previously|so\s+far|earlier))",
    ),
    _r(
        "override_de",
        Cue.OVERRIDE,
        3.0,
        rf"\b{_DE_VERB}(?:\W+\w+){{0,5}}?\W+{_DE_RULES}\b"
        r"|\b(?:vergiss|vergessen sie|ignoriere|ignorieren sie)\s+(?:alles|alle)\b",
    ),
    _r(
        "override_es",
        Cue.OVERRIDE,
        3.0,
        rf"\b{_ES_VERB}(?:\W+\w+){{0,5}}?\W+{_ES_RULES}\b|\b(?:olvida|ignora)\s+todo\b",
        opens=True,
    ),
    _r(
        "override_fr",
        Cue.OVERRIDE,
        3.0,
        rf"\b{_FR_VERB}(?:\W+\w+){{0,5}}?\W+{_FR_RULES}\b"
        rf"|\b(?:oublie|oubliez|ignore|ignorez)\s+tout\b",
        opens=True,
    ),
    _r(
        "override_user",
        Cue.OVERRIDE,
        2.0,
        r"\b(?:ignore|disregard|forget|override)\s+(?:what\s+)?(?:the\s+)?(?:user|human|"
        r"requester)(?:'s)?"
        r"(?:\s+(?:says|said|asked|wants|request|question|prompt|instructions?))?\b",
    ),
    # New instructions replacing the old ones.
    _r(
        "new_task",
        Cue.NEW_TASK,
        1.5,
        r"\byour\s+new\s+(?:task|instructions?|job|role|goal|mission|orders?|rules?)\b"
        r"|\bnew\s+(?:task|instructions?)\s*:"
        r"|\b(?:deine|ihre)\s+(?:neue|neuen)\s+(?:aufgabe|anweisung\w*|befehle?)\b"
        r"|\btu\s+(?:nueva|nuevas)\s+(?:tarea|instrucciones)\b|\b(?:ta|tes|votre|"
        r"vos)\s+(?:nouvelle|"
        r"nouvelles)\s+(?:tâche|instructions|consignes)\b",
    ),
    _r(
        "instead",
        Cue.NEW_TASK,
        1.0,
        r"\b(?:instead|rather)\b(?:\W+\w+){0,3}?\W+(?:say|write|print|output|respond|reply|answer|"
        r"tell)\b"
        r"|\b(?:stattdessen|statt dessen)\s+(?:sag|schreib|gib|antworte)\w*\b"
        r"|\ben (?:su lugar|lugar de eso),?\s+(?:di|escribe|responde)\b|\bà la place,?\s+(?:dis|"
        r"écris|réponds)\b",
    ),
    _r(
        "stop_task",
        Cue.NEW_TASK,
        1.5,
        r"\b(?:stop|end|abort|quit)\s+(?:what you are doing|your (?:current )?task|the task|here)\b"
        r"|\b(?:now|then)\s+(?:focus on|concentrate on)\s+(?:your|the|a)\s+new\b"
        r"|\bthat (?:is|was) (?:enough|done)\b.{0,40}\bnow\b"
        r"|\bstop\s*[-:,.!]+\s*(?:write|say|print|tell|now|instead)\b"
        r"|\b(?:das (?:ist|war) erledigt|ya (?:está|terminaste)|c'est fait)\b",
    ),
    _r(
        "praise_then_now",
        Cue.NEW_TASK,
        1.0,
        r"\b(?:well done|good job|great job|excellent|perfect|very good|sehr gut|gut gemacht|"
        r"super|prima|muy bien|très bien)\s*[.!,]+\s*(?:\w+\s+){0,4}?(?:now|next|nun|jetzt|ahora|"
        r"maintenant)\b",
    ),
    _r(
        "override_bare",
        Cue.OVERRIDE,
        2.5,
        r"\b(?:ignore|disregard|forget)\s+(?:all\s+|everything\s+)?(?:of\s+)?(?:the\s+)?"
        r"(?:above|previous|prior|preceding|earlier|before)(?:\s+(?:text|ones?|content|said|"
        r"statements?|messages?|input|conversation|parts?))?\s*(?:and\b|,|\.|;|!|:|-|$)"
        r"|\b(?:despite|regardless of|no matter) what you(?:'ve| have)? (?:been|were) (?:told|"
        r"instructed|programmed|trained)",
    ),
    _r(
        "override_de_end",
        Cue.OVERRIDE,
        3.0,
        r"\b(?:obige\w*|vorherige\w*|bisherige\w*|vorangegangene\w*|vorigen|alle\w*|deine\w*)\s+"
        r"(?:\w+\s+){0,2}(?:ausführungen|anweisungen|instruktionen|regeln|vorgaben|befehle|"
        r"aufgaben|"
        r"informationen|texte?)\s+(?:\w+\s+){0,2}(?:ignorieren|vergessen|missachten|verwerfen)\b",
    ),
    _r(
        "fake_instruction",
        Cue.NEW_TASK,
        1.2,
        r"(?:^|\n|[.!?] )[ \t]*(?:additional|new|extra|updated|real|actual|true|secret|hidden|"
        r"important)\s+(?:instructions?|task|command|system (?:message|prompt))\s*[:\-\u2013]"
        r"|(?:^|\n|\\n)[ \t]*(?:instructions?|anweisung|instrucción|consigne)\s*:",
    ),
    # Role hijacks and jailbreak personas.
    _r(
        "you_are_now",
        Cue.ROLE,
        1.5,
        r"\byou\s+are\s+(?:now|no\s+longer|from now on)\b(?!\s+(?:my|our|allowed|permitted|"
        r"able)\b)|\byou(?:'re| are) going to (?:act|"
        r"pretend|play)\b"
        r"|\b(?:du bist (?:jetzt|nun|ab jetzt))\b(?!\s+(?:mein|meine|unser|unsere)\b)|"
        r"\b(?:ahora eres)\b|\b(?:tu es (?:maintenant|"
        r"désormais))\b",
    ),
    _r(
        "persona",
        Cue.ROLE,
        2.0,
        r"\b(?:(?:you are|act as|become|called|named|play|as)\s+(?:dan|stan|dude|aim)\b"
        r"|dan mode|developer mode (?:enabled|activated)|do anything now"
        r"|(?:enable|activate|enter|switch to)\w*\s+(?:god|jailbreak|dan)\s+mode"
        r"|no (?:ethical|moral) (?:guidelines|restrictions|limits|boundaries)"
        r"|without (?:any )?(?:ethical |moral )?(?:restrictions|filters|limitations|censorship))",
    ),
    _r(
        "act_as_unrestricted",
        Cue.ROLE,
        2.0,
        r"\b(?:act|behave|respond|answer)\s+(?:as|like)\s+(?:an?\s+)?(?:ai|assistant|model|"
        r"chatbot|bot|character)?\s*"
        r"(?:with(?:out)?|that|who)\s+(?:has\s+)?(?:no|any|never)\b",
    ),
    _r(
        "pretend",
        Cue.ROLE,
        0.8,
        r"\b(?:pretend|imagine|roleplay|role-play)\b(?:\W+\w+){0,4}?\W+(?:you are|you're|to be)\b"
        r"|\b(?:tu so,? als|stell dir vor,? du bist)\b|\b(?:finge|imagina que eres)\b|"
        r"\b(?:fais semblant)\b",
    ),
    _r(
        "no_rules",
        Cue.ROLE,
        1.5,
        r"\b(?:you (?:have|are bound by|must follow) no|not bound by|free from|break free of|"
        r"freed from)\b"
        r"(?:\W+\w+){0,3}?\W+(?:rules|restrictions|guidelines|policies|filters|limits|"
        r"constraints)\b",
    ),
    # System prompt leaking.
    _r(
        "leak_prompt",
        Cue.LEAK,
        2.0,
        r"\b(?:print|show|reveal|display|output|repeat|tell|give|write|share|disclose|leak|dump|"
        r"list|spell)\b"
        r"(?:\W+\w+){0,4}?\W+(?:your|the (?:initial|original|hidden|secret|system|above|previous|"
        r"first)|initial|original|hidden|secret|system|above)\s*"
        r"(?:\w+\s+)?(?:system\s+)?(?:prompt|instructions|message|configuration|rules|guidelines|"
        r"directives)\b",
    ),
    _r(
        "leak_above",
        Cue.LEAK,
        2.0,
        r"\b(?:repeat|print|output|say|write|copy)\b(?:\W+\w+){0,3}?\W+(?:words|text|everything|"
        r"all)\s+"
        r"(?:above|before|prior|preceding)\b|\bwhat (?:was|is) (?:written|said) (?:above|before)\b"
        r"|\bbeginning with\s+[\"']?you are\b"
        r"|\b(?:sentences?|words|lines|paragraphs?)\s+(?:before|above|preceding)\s+(?:this|the|"
        r"that|"
        r"my)\b",
    ),
    _r(
        "leak_secret",
        Cue.LEAK,
        0.7,
        r"\b(?:reveal|tell|give|show|print|output)\b(?:\W+\w+){0,3}?\W+(?:the |your )?(?:password|"
        r"secret|api key|credentials|token)\b"
        r"|\b(?:zeig|gib|nenne|verrate)\w*(?:\W+\w+){0,3}?\W+(?:passwort|geheim\w*|systemprompt|"
        r"anweisungen)\b",
    ),
    # Exfiltration and beacons.
    _r(
        "exfil_send",
        Cue.EXFIL,
        1.5,
        r"\b(?:send|post|forward|upload|transmit|email|e-mail|exfiltrate|leak|"
        r"append)\b(?:\W+\w+){0,6}?\W+"
        r"(?:to|at|into)\s+(?:https?://|www\.|[\w.+-]+@[\w-]+\.)",
    ),
    _r(
        "beacon",
        Cue.EXFIL,
        2.0,
        r"!\[[^\]]*\]\(\s*https?://[^)]*(?:\?|&)[^)]*=|"
        r"<img[^>]+src=[\"']?https?://[^\s>]*\?[^\s>]*="
        r"|\bhttps?://\S+\?\S*=\s*(?:\{|\[|<)?\s*(?:data|secret|password|conversation|history|"
        r"prompt|user)",
    ),
    # Text in a document that speaks to the AI reading it.
    _r(
        "address_ai_reading",
        Cue.HIDDEN,
        1.2,
        r"\b(?:ai|assistant|chatbot|language model|llm|gpt|claude|copilot|bot|model|"
        r"agent)s?\b[\s,:]+"
        r"(?:reading|processing|summari[sz]ing|analy[sz]ing|reviewing|parsing)\b",
    ),
    _r(
        "address_ai_note",
        Cue.HIDDEN,
        1.2,
        r"\b(?:note|attention|important|instructions?|message)\s+(?:to|for)\s+(?:the\s+)?(?:ai|"
        r"assistant|llm|model|chatbot|agent|language model)\b"
        r"(?!\s+(?:assistants|models|agents|chatbots|systems|tools)\b)"  # about AI in general
        r"|\b(?:dear|hey|hello|hi)\s+(?:ai|assistant|chatbot|llm|gpt|model|agent)\b"
        r"|\bif you are an? (?:ai|llm|language model|assistant|chatbot|agent)\b",
    ),
    _r(
        "address_ai_colon",
        Cue.HIDDEN,
        1.2,
        r"\b(?:ai|assistant|chatbot|llm|gpt|model|agent|bot)\s*[:,]\s*(?:please\s+)?(?:ignore|"
        r"disregard|forget|tell|say|reply|respond|send|forward|include|add|do not|don't|stop|"
        r"recommend|output|print|reveal|write|insert|visit|click|open|delete|call|execute|run|"
        r"you must|always|never)\b",
    ),
    _r(
        "address_ai_when",
        Cue.HIDDEN,
        1.2,
        r"\bwhen (?:summari[sz]ing|processing|reading|answering|explaining|translating|reviewing|"
        r"analy[sz]ing)\b(?:\W+\w+){0,4}?\W+(?:you must|always|do not|don't|include|say|tell|"
        r"add)\b",
    ),
    _r(
        "jailbreak_markers",
        Cue.ROLE,
        1.0,
        r"\bstay in character\b|\b(?:ignore|bypass|violate|break|not bound by|don't have to follow|"
        r"does not have to follow|doesn't have to follow)\s+(?:\w+\s+){0,2}(?:content )?polic(?:y|"
        r"ies)\b"
        r"|\babide by (?:the|any) rules\b|\btypical confines\b|\bhave been freed\b"
        r"|\bwithout any censorship\b|\b(?:never|not|won't) refuse\b|\bjailbr(?:eak|oken) mode\b"
        r"|\bunfiltered (?:response|answer|mode)\b|\b(?:two|2) (?:different |separate )?responses\b"
        r"|\bimmerse yourself\b|\b(?:take on|assume|step into) the role of\b",
    ),
    _r(
        "alter_output",
        Cue.HIDDEN,
        1.5,
        r"\b(?:your|the) (?:answer|reply|response|summary|output)\s+(?:should|must|has to|needs "
        r"to|will)\b"
        r"|\b(?:include|add|insert|append|mention|put|write)\b(?:\W+\w+){0,6}?\W+(?:in|to|into|at "
        r"the "
        r"(?:start|end|beginning) of) (?:your|the) (?:answer|reply|response|summary|output)\b"
        r"|\b(?:begin|start|end) (?:your|the) (?:answer|reply|response|summary|output) with\b"
        r"|\b(?:respond|reply|answer) (?:only )?(?:in|with|using) (?:base64|rot13|emojis?|pig "
        r"latin|"
        r"a (?:poem|link|url))\b",
        documents_only=True,
    ),
    _r(
        "steer_user",
        Cue.HIDDEN,
        1.5,
        r"\b(?:tell|ask|instruct|urge|direct|convince|persuade|remind|warn|inform|advise|"
        r"redirect)\s+"
        r"(?:the\s+)?(?:user|reader|customer|recipient)s?\b",
        documents_only=True,
    ),
    _r(
        "hidden_html",
        Cue.HIDDEN,
        0.6,
        r"display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0|color\s*:\s*(?:white|"
        r"#fff\b|#ffffff)"
        r"|opacity\s*:\s*0(?:\.0)?\b",
    ),
    _r(
        "fake_turn",
        Cue.HIDDEN,
        1.5,
        r"(?:^|\n)[ \t]*(?:system|assistant|\[system\]|<\|?system\|?>|###\s*(?:system|"
        r"instruction))\s*:"
        r"|<\|im_start\|>|\[/?inst\]|<<sys>>|\bend of (?:document|context|user input)\b",
    ),
)


_ALL_ANCHORS = tuple(sorted({a for rule in RULES for a in rule.anchors}))


def find(view: str, *, document: bool = False) -> list[Hit]:
    """Every rule's hits in the normalised view (of a document: the documents-only rules too)."""
    hits: list[Hit] = []
    present = {a for a in _ALL_ANCHORS if a in view}  # each anchor tested once, not per rule
    for rule in RULES:
        if rule.documents_only and not document:
            continue
        if present.isdisjoint(rule.anchors):
            continue
        for m in rule.pattern.finditer(view):
            at = m.start()
            if rule.word_start and at > 0 and (view[at - 1].isalnum() or view[at - 1] == "_"):
                continue
            if rule.opens and not _OPENS.search(view, max(0, at - 30), at):
                continue
            if rule.reported and _TOLD.search(view, max(0, at - 8), at):
                continue
            hits.append(Hit(rule, at, m.end()))
    return hits


# Patterns for the view with everything but letters removed: instructions spelt out with
# separators the view keeps ("ig-no-re", "ignore\nprevious" split mid-word over lines).
COMPACT = re.compile(
    r"(?:ignore|disregard|forget|override)(?:all|the|any|your)*(?:previous|prior|above|earlier)"
    r"(?:instructions|rules|prompts|directions)"
    r"|(?:reveal|print|show|repeat)(?:your|the)(?:system)?(?:prompt|instructions)"
    r"|ignoriere(?:alle)?(?:vorherigen|bisherigen)anweisungen"
)
