from enum import StrEnum


class Perm(StrEnum):
    VIEW = "scoring.view_scoringmodel"
    CHANGE = "scoring.change_scoringmodel"
    PUBLISH = "scoring.publish_scoringmodel"


# Who may cancel or restart a run: whoever may start it (a dry run: edit; a rescore: publish).
RUN_CONTROL: dict[str, Perm] = {"dry_run": Perm.CHANGE, "rescore": Perm.PUBLISH}
