#!/usr/bin/env python3
"""Writes tests/data/pii/labelled.jsonl: Chinese and English snippets labelled with the PII they
contain, for tests/unit/safety_pii_test.cpp (precision and recall per entity, stream properties).

Every sentence template below was written for this file. The identifiers in them are synthetic:
resident IDs, bank cards and credit codes are generated with valid check characters (so they look
real to the detector) from random digits; none is taken from anywhere.

Each line: {"text": "...", "entities": [{"type": "cn_mobile", "value": "13812345678"}]}; a value
is the exact span the detector should report (a mobile number's +86 prefix is part of it).
Negatives ("entities": []) are ordinary sentences and near misses: check characters or Luhn
digits that fail, impossible dates, numbers inside longer digit runs, passports without a context
word, emails without a dotted domain, octets over 255, version strings. A near miss that happens
to be valid as another entity (a broken resident ID that passes Luhn with a UnionPay prefix) is
drawn again: that string IS the other entity, and labelling it negative would be wrong.

Deterministic (fixed seed): rerun after editing to regenerate the file.
Usage: python3 tests/data/pii/make_labelled.py [output]
"""
import json
import os
import random
import sys

SEED = 20240506
rng = random.Random(SEED)

# ---- validators (the rules of src/safety/pii.h) ----

PROVINCES = [11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46,
             50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83]
ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
ID_CHECK = "10X98765432"
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]


def id_check(first17):
    return ID_CHECK[sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS)) % 11]


def luhn_digit(partial):
    """The digit that makes partial + digit pass Luhn."""
    total = 0
    for i, c in enumerate(reversed(partial)):
        d = int(c)
        if i % 2 == 0:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def luhn_ok(digits):
    return luhn_digit(digits[:-1]) == digits[-1]


def card_network_ok(d):
    n, p2, p4 = len(d), int(d[:2]), int(d[:4])
    if p2 == 62:
        return 16 <= n <= 19
    if d[0] == "4":
        return n in (13, 16, 19)
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:
        return n == 16
    if p2 in (34, 37):
        return n == 15
    if p2 == 35:
        return 16 <= n <= 19
    return False


def valid_card(d):
    return d.isdigit() and 13 <= len(d) <= 19 and card_network_ok(d) and luhn_ok(d)


def uscc_check(first17):
    s = sum(USCC_CHARS.index(c) * w for c, w in zip(first17, USCC_WEIGHTS))
    return USCC_CHARS[(31 - s % 31) % 31]


def valid_uscc(c):
    return (len(c) == 18 and all(x in USCC_CHARS for x in c) and c[0] in "123456789ANY"
            and c[1] in "123456789" and c[2:8].isdigit() and uscc_check(c[:17]) == c[17])


def valid_date(y, m, d):
    if not (1900 <= y and 1 <= m <= 12 and d >= 1):
        return False
    days = [31, 29 if (y % 4 == 0 and y % 100 != 0) or y % 400 == 0 else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    return d <= days[m - 1]


def valid_id(s):
    if len(s) != 18 or not s[:17].isdigit() or int(s[:2]) not in PROVINCES:
        return False
    if not valid_date(int(s[6:10]), int(s[10:12]), int(s[12:14])):
        return False
    return id_check(s[:17]) == s[17].upper()


def other_entity(s):
    """Whether the digit string s is valid as a card, resident ID or USCC (then it is not a near miss)."""
    plain = s.replace(" ", "").replace("-", "")
    return valid_card(plain) or valid_id(plain) or valid_uscc(plain)


# ---- generators of valid values ----

def digits(n):
    return "".join(rng.choice("0123456789") for _ in range(n))


def fullwidth(s):
    return "".join(chr(ord(c) - 0x30 + 0xFF10) if c.isdigit() else c for c in s)


def id_body():
    """17 characters: region, a real birth date, sequence."""
    while True:
        region = f"{rng.choice(PROVINCES):02d}{rng.randint(1, 30):02d}{rng.randint(1, 40):02d}"
        y, m, d = rng.randint(1935, 2012), rng.randint(1, 12), rng.randint(1, 28)
        return f"{region}{y:04d}{m:02d}{d:02d}{digits(3)}"


def resident_id():
    body = id_body()
    check = id_check(body)
    if check == "X" and rng.random() < 0.3:
        check = "x"
    return body + check


MOBILE_PREFIXES = ([str(p) for p in range(130, 140)] + ["145", "147", "150", "151", "152", "153", "155", "156",
                   "157", "158", "159", "166", "170", "171", "173", "175", "176", "177", "178", "180", "181",
                   "182", "183", "184", "185", "186", "187", "188", "189", "191", "193", "195", "196", "198", "199"])


def mobile_digits():
    return rng.choice(MOBILE_PREFIXES) + digits(8)


def mobile():
    m = mobile_digits()
    style = rng.randrange(9)
    if style == 1:
        return f"{m[:3]} {m[3:7]} {m[7:]}"
    if style == 2:
        return f"{m[:3]}-{m[3:7]}-{m[7:]}"
    if style == 3:
        return "+86 " + m
    if style == 4:
        return f"+86-{m[:3]}-{m[3:7]}-{m[7:]}"
    if style == 5:
        return "+86" + m
    if style == 6:
        return "0086 " + m
    if style == 7:
        return fullwidth(m)
    return m


def card_digits():
    network = rng.randrange(6)
    if network == 0:
        prefix, length = "62" + digits(4), rng.choice([16, 16, 19])
    elif network == 1:
        prefix, length = "4" + digits(5), 16
    elif network == 2:
        prefix, length = str(rng.randint(51, 55)) + digits(4), 16
    elif network == 3:
        prefix, length = str(rng.randint(2221, 2720)) + digits(2), 16
    elif network == 4:
        prefix, length = rng.choice(["34", "37"]) + digits(4), 15
    else:
        prefix, length = str(rng.randint(3528, 3589)) + digits(2), 16
    partial = prefix + digits(length - len(prefix) - 1)
    return partial + luhn_digit(partial)


def group(d, sep):
    if len(d) == 15:  # Amex 4-6-5
        return sep.join([d[:4], d[4:10], d[10:]])
    return sep.join(d[i:i + 4] for i in range(0, len(d), 4))


def bank_card():
    d = card_digits()
    style = rng.randrange(5)
    if style == 1:
        return group(d, " ")
    if style == 2:
        return group(d, "-")
    if style == 3 and len(d) == 16:
        return fullwidth(d)
    return d


def uscc_body():
    region = f"{rng.choice(PROVINCES):02d}{rng.randint(1, 30):02d}{rng.randint(0, 40):02d}"
    org = "".join(rng.choice(USCC_CHARS) for _ in range(9))
    return rng.choice("1559999Y") + rng.choice("1239") + region + org


def uscc():
    body = uscc_body()
    return body + uscc_check(body)


def passport():
    kind = rng.randrange(3)
    if kind == 0:
        return "E" + digits(8)
    if kind == 1:
        return "G" + digits(8)
    return "E" + rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") + digits(7)


LOCALS = ["zhangwei", "li.na", "wang_fang", "liu.yang", "chenjie", "yang.min", "huang.lei", "zhou_tao", "john.smith",
          "mary", "alex.chen", "support", "hr-team", "sales+cn", "d.kim", "nora_w", "ops", "feng.x", "tom.b2b", "wu99"]
DOMAINS = ["example.com", "example.cn", "mail.example.org", "example.com.cn", "corp.example.net", "qq.com", "163.com",
           "126.com", "foxmail.com", "gmail.com", "outlook.com", "hearth-test.io", "uni.edu.cn", "example.co.uk"]


def email():
    local = rng.choice(LOCALS) if rng.random() < 0.8 else str(rng.randint(10000, 9999999999))
    return f"{local}@{rng.choice(DOMAINS)}"


def ipv4():
    kind = rng.randrange(4)
    if kind == 0:
        return f"192.168.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    if kind == 1:
        return f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    return ".".join(str(rng.randint(1, 255)) for _ in range(4))


def hexgroup():
    return format(rng.randint(0, 0xFFFF), "x")


def ipv6():
    kind = rng.randrange(5)
    if kind == 0:
        return ":".join(hexgroup() for _ in range(8))
    if kind == 1:
        return "2001:db8::" + hexgroup()
    if kind == 2:
        return "fe80::" + ":".join(hexgroup() for _ in range(rng.randint(1, 4)))
    if kind == 3:
        return f"::ffff:{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    return f"2408:{hexgroup()}:{hexgroup()}::{hexgroup()}"


GENERATORS = {"cn_resident_id": resident_id, "cn_mobile": mobile, "bank_card": bank_card, "cn_uscc": uscc,
              "passport": passport, "email": email, "ipv4": ipv4, "ipv6": ipv6}

# ---- positive templates, by entity: {v} is the value ----

POSITIVE = {
    "cn_resident_id": [
        "我的身份证号码是{v}，请帮我查一下社保缴费记录。",
        "身份证：{v}",
        "请核对申请人证件号{v}是否与户口本一致。",
        "客户张伟（身份证号{v}）已完成实名认证。",
        "居民身份证号码 {v} 已登记在案。",
        "证件号码:{v},请妥善保管。",
        "办理入住需要登记身份证{v}和联系电话。",
        "Applicant ID number: {v}.",
        "Her Chinese resident ID is {v}, issued in Chengdu.",
        "Please verify ID {v} before opening the account.",
        "ID card no. {v} was scanned at the front desk.",
        "The form lists {v} as the guarantor's identity number.",
    ],
    "cn_mobile": [
        "有问题请拨打{v}联系我。",
        "联系电话：{v}",
        "手机号{v}已绑定到您的账户。",
        "请明天上午十点前回电 {v}，谢谢。",
        "快递员电话是{v}，他说下午到。",
        "紧急联系人：王芳，手机{v}。",
        "验证码已发送至{v}，请注意查收。",
        "Call me on {v} tomorrow morning.",
        "Contact: {v} (WeChat uses the same number).",
        "My new mobile is {v}, please update the CRM.",
        "Reach the driver at {v} when you land.",
        "Text {v} if the door is locked.",
    ],
    "bank_card": [
        "请将款项转入银行卡{v}，户名王芳。",
        "我的信用卡号是 {v}，麻烦帮我查一下账单。",
        "银行卡号：{v}",
        "退款已原路退回至卡号{v}的账户。",
        "工资卡 {v} 本月未到账。",
        "Charge it to card {v}, please.",
        "The customer's card {v} was declined twice.",
        "Card number: {v}",
        "Refund issued to {v} on Monday.",
        "I paid with {v} but the order is still pending.",
    ],
    "cn_uscc": [
        "统一社会信用代码：{v}",
        "该公司的信用代码为{v}，注册地在上海。",
        "开票信息：名称 华禾科技有限公司，税号 {v}。",
        "请在合同中填写乙方统一社会信用代码{v}。",
        "营业执照上的代码是{v}，请核对。",
        "Unified social credit code {v} appears on the business licence.",
        "Supplier USCC: {v}",
        "Invoice to Huahe Tech Ltd., tax ID {v}.",
        "The registry shows {v} for the new subsidiary.",
    ],
    "passport": [
        "护照号码：{v}",
        "我的护照号是{v}，下个月到期。",
        "请提供护照复印件，护照号{v}需清晰可见。",
        "持护照 {v} 的旅客请到三号柜台办理。",
        "Passport No. {v}",
        "Please enter your passport number ({v}) on the visa form.",
        "Passport: {v}, expires next spring.",
        "The guest showed passport {v} at check-in.",
        "PASSPORT NO {v}",
    ],
    "email": [
        "请发邮件到{v}，我们会尽快回复。",
        "邮箱：{v}",
        "简历请投递至 {v}，注明应聘岗位。",
        "如需发票，请联系{v}。",
        "Send the report to {v}.",
        "Contact {v} for access to the dashboard.",
        "My email is {v}, thanks!",
        "Reply-To: <{v}>",
        "Forward the invoice to {v} before Friday.",
    ],
    "ipv4": [
        "服务器地址是{v}，端口8080。",
        "登录IP：{v}",
        "检测到来自{v}的异常登录。",
        "请把{v}加入白名单。",
        "The request came from {v} at half past ten.",
        "Ping {v} to check the gateway.",
        "Allow {v}/32 in the firewall.",
        "ssh admin@{v} -p 2222",
        "Last login: {v} (Shanghai).",
    ],
    "ipv6": [
        "IPv6 地址：{v}",
        "该主机解析到{v}。",
        "请在防火墙放行{v}。",
        "The host resolves to {v}.",
        "Add [{v}]:443 to the allow list.",
        "Client address {v} was rate limited.",
        "inet6 {v} prefixlen 64",
    ],
}

# Several entities in one snippet: {type} fields.
MULTI = [
    "姓名：刘洋；身份证：{cn_resident_id}；电话：{cn_mobile}",
    "联系人：李娜，电话：{cn_mobile}，邮箱：{email}",
    "Name: Chen Jie, phone {cn_mobile}, email {email}.",
    "收款人王芳，卡号{bank_card}，预留手机{cn_mobile}。",
    "Wire to card {bank_card}; questions to {email}.",
    "护照号码{passport}，身份证号{cn_resident_id}，均已核验。",
    "公司：华禾科技，信用代码{cn_uscc}，对公邮箱{email}。",
    "登录记录：{ipv4}（IPv4）与 {ipv6}（IPv6）。",
    "Guest passport {passport}, mobile {cn_mobile}.",
    "Server {ipv4} forwards to {ipv6} over the tunnel.",
]

# ---- negatives ----

ORDINARY = [
    "今天下午三点在三楼会议室开会，请准时参加。",
    "这款手机售价3999元，比去年便宜了500元。",
    "订单已于2024年5月6日发货，预计三天内送达。",
    "请在12:30:45之前提交报告。",
    "仓库里还有13800件库存。",
    "我们的办公室在人民路88号。",
    "会议纪要已经发到群里了，大家看一下。",
    "下周一放假，周六正常上班。",
    "The meeting is at 3 pm in room 402.",
    "Version 2.10.1 fixes the crash on startup.",
    "We shipped 12,345 units in Q3.",
    "The build took 17 minutes and 42 seconds.",
    "Please read chapter 11 before Thursday.",
    "Our office moved to 88 Renmin Road.",
    "Call me when you get this message.",
    "Email me the slides, thanks.",
    "The model has 7 billion parameters and a 4096-token context.",
    "Temperature today: 23 to 31 degrees.",
    "See std::vector and std::string in the C++ docs.",
    "The ratio was 3:2:1 across the three groups.",
    "天气预报说明天有雨，记得带伞。",
    "这个季度的营收增长了百分之十二。",
    "请把文件放在共享盘的项目目录下。",
    "他说晚上七点半到，可能会堵车。",
]

NEAR_MISS = {
    "bad_id_check": ["身份证号{v}校验失败，请重新输入。", "ID {v} was rejected by the validator.", "证件号：{v}"],
    "bad_id_date": ["这个号码{v}的出生日期不存在。", "Rejected ID {v}: invalid birth date."],
    "bad_uscc": ["信用代码{v}校验位错误。", "Code {v} failed the USCC check.", "税号：{v}（待核实）"],
    "bad_luhn": ["卡号{v}无效，请检查后重试。", "Card {v} failed validation.", "银行卡：{v}"],
    "unknown_network": ["会员卡号{v}，积分已到账。", "Loyalty card {v} has 3,200 points."],
    "order_11": ["订单号：{v}", "您的订单{v}已签收。", "Order {v} ships tomorrow.", "工单编号 {v} 已关闭。"],
    "date": ["发货日期：{v}", "Report generated on {v}.", "截止日期为{v}。"],
    "version": ["请升级到 {v} 版本。", "Tested with release {v}.", "固件版本v{v}已发布。"],
    "long_run": ["流水号{v}已入账。", "Tracking number {v} is in transit.", "交易编号：{v}"],
    "passport_no_context": ["订单号{v}已发货。", "Invoice {v} is overdue.", "型号 {v} 已停产。", "Reference {v} attached."],
    "email_no_dot": ["内网账号 {v} 仅限公司内部使用。", "Log in as {v} on the test box.", "root 用户是 {v}。"],
    "bad_octet": ["地址{v}无效。", "Host {v} is not a valid address.", "请勿使用{v}。"],
    "time_or_mac": ["网卡地址 {v}", "Timestamp {v} in the log.", "MAC {v} was blocked."],
    "short_mobile": ["分机号码{v}。", "Ext. {v}", "号码{v}位数不对。"],
}


# Harder cases, labelled as a person would label them whatever the detector does: some are known
# limits (a context word after the passport number or too far before it, full-width '．' and '＠',
# a number glued to a word, four-part section numbers that read as IPv4), so the table shows them.
def hard_positives():
    def fw_dots(ip):
        return fullwidth(ip).replace(".", "\uff0e")

    def spaced_id(sep):
        i = resident_id()
        return sep.join([i[:6], i[6:14], i[14:]])

    cases = [
        ("cn_resident_id", "身份证号：{v}", lambda: spaced_id(" ")),
        ("cn_resident_id", "ID no. {v} (as printed on the card)", lambda: spaced_id(" ")),
        ("cn_resident_id", "证件号 {v}", lambda: spaced_id("-")),
        ("cn_mobile", "（+86）{v}，工作日可打", mobile_digits),
        ("cn_mobile", "手机：{v}（微信同号）", mobile_digits),
        ("cn_mobile", "Tel{v}", mobile_digits),
        ("passport", "{v} is the passport number on file.", passport),
        ("passport", "护照信息如下：姓名 张伟，性别 男，出生日期 1990年3月7日，证件号码 {v}", passport),
        ("passport", "旅客护照（{v}）已核验。", passport),
        ("email", "联系邮箱：{v}", lambda: email().upper()),
        ("email", "邮箱 {v}（把＠换成@）", lambda: email().replace("@", "\uff20")),
        ("ipv4", "ＩＰ：{v}", lambda: fw_dots(ipv4())),
        ("ipv4", "默认网关 {v}。", ipv4),
        ("ipv6", "ping6 {v}%eth0", lambda: "fe80::" + hexgroup()),
        ("ipv6", "Gateway {v}.", lambda: "2001:DB8::" + hexgroup().upper()),
        ("bank_card", "卡号：{v}（建设银行）", bank_card),
    ]
    rows = []
    for etype, template, gen in cases:
        for _ in range(3):
            v = gen()
            rows.append({"text": template.format(v=v), "entities": [{"type": etype, "value": v}]})
    return rows


HARD_NEGATIVE = [
    "详见第{a}.{b}.{c}.{d}节的说明。",
    "Build {a}.{b}.{c}.{d} is out.",
    "座机：010-{n8}",
    "ISBN 978-7-111-{n5}-{d}",
    "request id 550e8400-e29b-41d4-a716-{n12}",
    "坐标 31.{n4}, 121.{n4}",
    "价格：￥{n4}.{a}0，库存{n5}件",
    "commit 3f2a9c{n8}e1b7d0 merged",
    "2024-05-06T12:30:45Z job {n8} finished",
    "E-mail me at john at example dot com.",
]


def hard_negatives():
    rows = []
    for i in range(40):
        template = HARD_NEGATIVE[i % len(HARD_NEGATIVE)]
        text = template.format(a=rng.randint(1, 9), b=rng.randint(0, 9), c=rng.randint(0, 9), d=rng.randint(0, 9),
                               n4=digits(4), n5=digits(5), n8=digits(8), n12=digits(12))
        rows.append({"text": text, "entities": []})
    return rows


def near_miss_value(kind):
    """A value that looks like an entity but is not one."""
    while True:
        v = near_miss_candidate(kind)
        if not other_entity(v):
            return v


def near_miss_candidate(kind):
    if kind == "bad_id_check":
        body = id_body()
        good = id_check(body)
        return body + rng.choice([c for c in "0123456789X" if c != good])
    if kind == "bad_id_date":
        region = f"{rng.choice(PROVINCES):02d}0105"
        y, md = rng.randint(1950, 2005), rng.choice(["1301", "0230", "0431", "0010", "0932", "0229"])
        if md == "0229":
            y = rng.choice([1951, 1973, 1999, 2003])
        body = f"{region}{y}{md}{digits(3)}"
        return body + id_check(body)
    if kind == "bad_uscc":
        body = uscc_body()
        good = uscc_check(body)
        return body + rng.choice([c for c in USCC_CHARS if c != good])
    if kind == "bad_luhn":
        d = card_digits()
        wrong = str((int(d[-1]) + rng.randint(1, 9)) % 10)
        d = d[:-1] + wrong
        return group(d, " ") if rng.random() < 0.3 else d
    if kind == "unknown_network":
        partial = rng.choice(["9", "8", "7", "1", "60"]) + digits(14)
        return partial + luhn_digit(partial)
    if kind == "order_11":
        return rng.choice(["2", "9", "5", "3", "10", "11", "12"]) + digits(9) + digits(1)
    if kind == "date":
        y, m, d = rng.randint(2015, 2025), rng.randint(1, 12), rng.randint(1, 28)
        return rng.choice([f"{y}-{m:02d}-{d:02d}", f"{y}{m:02d}{d:02d}", f"{y}.{m:02d}.{d:02d}", f"{y}/{m}/{d}"])
    if kind == "version":
        return ".".join(str(rng.randint(0, 20)) for _ in range(rng.choice([5, 6])))
    if kind == "long_run":
        m = mobile_digits()
        return rng.choice([digits(2) + m, m + digits(3), digits(1) + m + digits(2)])
    if kind == "passport_no_context":
        return rng.choice(["E", "G"]) + digits(8)
    if kind == "email_no_dot":
        return rng.choice(LOCALS) + "@" + rng.choice(["localhost", "intranet", "buildbox", "nas"])
    if kind == "bad_octet":
        parts = [str(rng.randint(0, 255)) for _ in range(4)]
        parts[rng.randrange(4)] = str(rng.randint(256, 999))
        return ".".join(parts)
    if kind == "time_or_mac":
        return rng.choice([f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}",
                           ":".join(format(rng.randint(0, 255), "02x") for _ in range(6))])
    if kind == "short_mobile":
        m = mobile_digits()
        return rng.choice([m[:10], m[:9], m + digits(1)])
    raise ValueError(kind)


def positives():
    rows = []
    for etype, templates in POSITIVE.items():
        for i in range(70):
            v = GENERATORS[etype]()
            rows.append({"text": templates[i % len(templates)].format(v=v), "entities": [{"type": etype, "value": v}]})
    for i in range(80):
        template = MULTI[i % len(MULTI)]
        values, entities = {}, []
        for etype in GENERATORS:
            if "{" + etype + "}" in template:
                values[etype] = GENERATORS[etype]()
        text = template.format(**values)
        # In text order, as the detector reports them.
        for etype, v in sorted(values.items(), key=lambda kv: text.index(kv[1])):
            entities.append({"type": etype, "value": v})
        rows.append({"text": text, "entities": entities})
    return rows


def negatives():
    rows = [{"text": t, "entities": []} for t in ORDINARY]
    for kind, templates in NEAR_MISS.items():
        for i in range(36):
            rows.append({"text": templates[i % len(templates)].format(v=near_miss_value(kind)), "entities": []})
    return rows


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "labelled.jsonl")
    rows = positives() + hard_positives() + negatives() + hard_negatives()
    with open(out, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    pos = sum(1 for r in rows if r["entities"])
    print(f"wrote {out}: {pos} positive, {len(rows) - pos} negative snippets", file=sys.stderr)


if __name__ == "__main__":
    main()
