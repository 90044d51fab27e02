from enum import StrEnum


class Perm(StrEnum):
    VIEW = "scoring.view_scoringmodel"
    CHANGE = "scoring.change_scoringmodel"
    PUBLISH = "scoring.publish_scoringmodel"
