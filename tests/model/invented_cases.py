"""INVENTED TEXT, for behavioural tests of mechanics only.

These short reviews were written by the developers to probe the shipped model (CheckList-style
minimum functionality tests). They are not real reviews, are never used for training, and never
enter an accuracy figure.
"""

# (label, lang, text)
CASES = [
    ("product_quality", "zh", "用了三天就坏了，质量太差"),
    ("product_quality", "en", "Stopped working after two days, really poor quality"),
    ("logistics", "zh", "快递太慢了，等了一个星期才到"),
    ("logistics", "en", "Shipping took three weeks and the box arrived crushed"),
    ("service_attitude", "zh", "客服态度很差，问什么都不回复"),
    ("service_attitude", "en", "The seller was rude and never answered my messages"),
    ("other", "zh", "价格太贵了，不值这个价"),
    ("other", "en", "Way overpriced, not worth the money"),
    ("none", "zh", "很好吃，送餐快"),
    ("none", "en", "Works great, fast shipping"),
    ("low", "zh", "味道还行，就是分量有点少"),
    ("low", "en", "Good value overall, just a bit flimsy"),
    ("medium", "zh", "等了两个小时才送到"),
    ("medium", "en", "The zipper broke after a week of use"),
    ("high", "zh", "买到假货，再也不买了"),
    ("high", "en", "Third replacement also dead and the seller refuses a refund. Never again"),
    ("critical", "zh", "吃完上吐下泻进了医院"),
    ("critical", "en", "The battery exploded and burned my hand"),
    ("safety", "zh", "充电器冒烟起火了，太危险"),
    ("safety", "en", "The charger caught fire on my desk"),
    ("legal", "zh", "商家拒绝退款，我要去12315投诉"),
    ("legal", "en", "The seller refused my refund so I filed a complaint with the attorney general"),
    ("media", "zh", "再不处理我就找记者曝光你们"),
    ("media", "en", "If this isn't fixed I will go to the news and post this everywhere on social media"),
    ("fraud", "zh", "这是假货，高仿的，商家是骗子"),
    ("fraud", "en", "This is a counterfeit, a fake knockoff. The seller is a scammer"),
    ("privacy", "zh", "商家泄露了我的个人信息，天天接到骚扰电话"),
    ("privacy", "en", "They leaked my personal information and now I get harassing calls every day"),
]

# Invariance: the label must not change under these edits (text, edited text).
INVARIANT = [
    ("快递太慢了，等了一个星期才到", "快递太慢了，等了一个星期才到！"),
    ("客服态度很差，问什么都不回复", "客服態度很差，問什麼都不回復"),  # traditional script
    ("用了三天就坏了，质量太差", "用了三天就坏了，质量太差 联系我13812345678"),  # personal data masked
    ("Stopped working after two days, really poor quality", "STOPPED WORKING AFTER TWO DAYS, REALLY POOR QUALITY"),
]

# Direction: adding a harm or regulator threat must not lower severity.
DIRECTIONAL = [
    ("外卖送晚了一个小时", "外卖送晚了一个小时，吃完还拉肚子进了医院"),
    ("退款一直不给退", "退款一直不给退，我要去12315投诉"),
    ("The item arrived broken", "The item arrived broken and I'm contacting my lawyer"),
]

NEGATED = [("吃了没有过敏，很好用", "safety"), ("这不是假货，是正品", "fraud")]
