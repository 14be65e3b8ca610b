"""A synthetic credit-risk model whose income and country drift at a chosen moment; the rest stay put.

Two versions serve it: the champion v3, and a canary v4 on about 5% of the traffic that errs about
three times as often. Traffic comes through three channels (a segment); after the drift the model
declines far more on the small "partner" channel (a units bug in that integration), which the
model-wide prediction distribution hides.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np

from stream.events import FeatureEvent, LabelEvent, PredictionEvent

MODEL_ID = "credit-risk"
DRIFTING = ("income", "country")
STABLE = ("age", "debt_ratio", "open_accounts", "device")
COUNTRIES = np.array(["DE", "FR", "ES", "IT", "NL"])
COUNTRY_P = np.array([0.35, 0.25, 0.2, 0.15, 0.05])
# After the drift a market opens: a new country appears and the mix shifts.
COUNTRIES_DRIFTED = np.array(["DE", "FR", "ES", "IT", "NL", "BR"])
COUNTRY_P_DRIFTED = np.array([0.2, 0.15, 0.15, 0.1, 0.05, 0.35])
DEVICES = np.array(["ios", "android", "web"])
DEVICE_P = np.array([0.4, 0.4, 0.2])
CHANNELS = np.array(["app", "web", "partner"])
CHANNEL_P = np.array([0.6, 0.34, 0.06])
CHAMPION, CANARY, CANARY_SHARE = "v3", "v4", 0.05


@dataclass
class Batch:
    features: list[FeatureEvent]
    predictions: list[PredictionEvent]
    labels: list[LabelEvent]


class CreditRiskWorkload:
    """Deterministic for a seed: batch k of the same workload is always the same events."""

    def __init__(self, seed: int = 7, model_id: str = MODEL_ID):
        self.rng = np.random.default_rng(seed)
        self.model_id = model_id
        self.sent = 0

    def batch(self, n: int, drifted: bool, now: datetime | None = None, label_lag: int = 0) -> Batch:
        rng = self.rng
        now = now or datetime.now(timezone.utc)
        income = rng.lognormal(10.6 + (0.35 if drifted else 0.0), 0.45, n)
        age = np.clip(rng.normal(41, 12, n), 18, 95).round()
        debt = rng.beta(2, 5, n)
        accounts = rng.poisson(3, n)
        if drifted:
            country = rng.choice(COUNTRIES_DRIFTED, n, p=COUNTRY_P_DRIFTED)
        else:
            country = rng.choice(COUNTRIES, n, p=COUNTRY_P)
        device = rng.choice(DEVICES, n, p=DEVICE_P)
        channel = rng.choice(CHANNELS, n, p=CHANNEL_P)
        version = np.where(rng.random(n) < CANARY_SHARE, CANARY, CHAMPION)
        # The partner integration's bug: after the drift the model sees its incomes in thousands.
        seen_income = np.where(drifted & (channel == "partner"), income / 1000, income)
        score = 1 / (1 + np.exp(-(np.log(seen_income) - 10.6) * 2 + debt * 3 - 0.5))
        decision = np.where(score > 0.6, "approve", np.where(score > 0.4, "review", "decline"))
        # Ground truth agrees with the champion 90% of the time (70% once the world has changed);
        # the canary errs about three times as often as the champion.
        error = np.where(version == CANARY, 0.3, 0.1) if not drifted else np.where(version == CANARY, 0.6, 0.3)
        wrong = rng.random(n) < error
        truth = np.where(wrong, np.where(decision == "approve", "decline", "approve"), decision)
        features, predictions, labels = [], [], []
        for i in range(n):
            eid = f"{self.model_id}-{self.sent + i}"
            ts = now + timedelta(microseconds=i)
            feats = {"income": float(income[i]), "age": float(age[i]), "debt_ratio": float(debt[i]),
                     "open_accounts": float(accounts[i]), "country": str(country[i]), "device": str(device[i])}
            features.append(FeatureEvent(event_id=eid, model_id=self.model_id, timestamp=ts, features=feats))
            predictions.append(PredictionEvent(event_id=eid, model_id=self.model_id, model_version=str(version[i]),
                                               timestamp=ts, prediction=str(decision[i]), score=float(score[i]),
                                               segment={"channel": str(channel[i])}))
            labels.append(LabelEvent(event_id=eid, model_id=self.model_id, timestamp=ts, label=str(truth[i])))
        self.sent += n
        return Batch(features, predictions, labels)
