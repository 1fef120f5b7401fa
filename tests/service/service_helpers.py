"""Review texts shared by the service tests (importable as ``service_helpers``)."""
from __future__ import annotations

#: Reviews that the shipped model escalates (priority 1-2): food poisoning, injury, threats to report.
#: The ``escalating_text`` fixture checks that the current model still escalates at least one of them.
ESCALATING_CANDIDATES = (
    "吃了以后拉肚子，食物中毒了，我要投诉到12315",
    "外卖里吃出了玻璃碴，嘴都划破了，要去医院，我要曝光你们",
    "Found broken glass in the soup and my kid got hurt, I will sue you and call the news.",
)
#: Reviews that it does not escalate (praise).
CALM_CANDIDATES = ("很好吃，送餐也很快，好评", "味道不错，分量足，下次还点", "Great food, fast delivery, thanks!")
