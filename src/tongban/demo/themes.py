"""Life events for persons and life-cycle stages for enterprises (the home page's themes)."""

PERSON_THEMES = [
    ("birth", "生育收养", "出生医学证明、落户、新生儿参保"),
    ("education", "教育入学", "义务教育入学、学籍、资助"),
    ("household", "户籍办理", "落户、迁移、户口簿"),
    ("id_docs", "证件办理", "身份证、居住证、出入境证件"),
    ("employment", "就业创业", "失业登记、就业补贴、创业担保贷款"),
    ("marriage", "婚姻家庭", "结婚、离婚、补领婚姻登记证"),
    ("housing", "住房保障", "不动产登记、公积金、保障房"),
    ("transport", "交通出行", "驾驶证、机动车登记、违法处理"),
    ("social_security", "社会保障", "社保卡、养老保险、医疗保险"),
    ("medical", "医疗卫生", "医保报销、异地就医、执业注册"),
    ("retirement", "退休养老", "退休、养老金、高龄津贴"),
    ("disability", "残疾人服务", "残疾人证、补贴"),
    ("veterans", "退役军人", "优抚、安置"),
    ("utilities", "水电气讯", "用电、用水、燃气报装"),
    ("after_death", "身后事", "死亡登记、丧葬补助"),
]

ENTERPRISE_THEMES = [
    ("e_start", "企业开办", "设立登记、公章刻制、税务登记、社保登记"),
    ("e_license", "准营准办", "行业经营许可"),
    ("e_invest", "投资建设", "立项、用地、规划、施工许可"),
    ("e_tax", "纳税缴费", "发票、申报、缴费"),
    ("e_hr", "人力资源", "招聘用工、社保、公积金"),
    ("e_operate", "经营发展", "变更、年报、资质"),
    ("e_close", "企业注销", "简易注销、清税"),
]
