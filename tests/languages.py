"""What reads as English left untranslated on a page (tests of issue 21, Django client and
Chromium alike)."""

import re

# English words that no UI of ours says in Hungarian, Danish, Czech or German. Not: loanwords the
# glossary keeps (lead(s), team, score, import, status, filter) nor short words that are words
# there too (in, at, by, for, to, no, i).
ENGLISH = re.compile(
    r"\b(the|and|with|your|you|this|these|which|have|has|been|will|must|there|their|yet|none|"
    r"nothing|when|where|should|could|would|about|before|because|only|also|than|here|stage|"
    r"stages|save|cancel|search|delete|owner|reason|show|next|previous|page|new|back|edit|"
    r"change|changes|log out|log in|settings|reports|created|updated|never|every|all|any|each|"
    r"not|yes|or|of|is|are|was|on)\b",
    re.IGNORECASE,
)
ZONE = re.compile(r"^[A-Z][A-Za-z_-]+(/[A-Za-z_ -]+)+$")  # an IANA time zone name
PATH = re.compile(r"^[\w.-]*/[\w./*-]*$")  # a path or URL shown as code
