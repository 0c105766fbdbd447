"""Department kinds and how each is named at province, city and county level.

kind code (2 digits, used in generated credit codes), kind label, levels where the department
exists (2 province, 3 city, 4 county), name templates. `{p}` is the province name, `{d}` the
division's name as it appears in department names (a district carries its city's name:
"南昌市东湖区"), USCC class prefix ("11" state organ, "12" public institution, "91" enterprise).
"""

KINDS: list[dict[str, object]] = [
    {"code": "01", "kind": "公安", "levels": [2, 3, 4], "province": "江西省公安厅", "local": "{d}公安局", "class": "11"},
    {"code": "02", "kind": "人社", "levels": [2, 3, 4], "province": "江西省人力资源和社会保障厅", "local": "{d}人力资源和社会保障局", "class": "11"},
    {"code": "03", "kind": "医保", "levels": [2, 3, 4], "province": "江西省医疗保障局", "local": "{d}医疗保障局", "class": "11"},
    {"code": "04", "kind": "卫健", "levels": [2, 3, 4], "province": "江西省卫生健康委员会", "local": "{d}卫生健康委员会", "class": "11"},
    {"code": "05", "kind": "教育", "levels": [2, 3, 4], "province": "江西省教育厅", "local": "{d}教育局", "class": "11"},
    {"code": "06", "kind": "民政", "levels": [2, 3, 4], "province": "江西省民政厅", "local": "{d}民政局", "class": "11"},
    {"code": "07", "kind": "市场监管", "levels": [2, 3, 4], "province": "江西省市场监督管理局", "local": "{d}市场监督管理局", "class": "11"},
    {"code": "08", "kind": "税务", "levels": [2, 3, 4], "province": "国家税务总局江西省税务局", "local": "国家税务总局{d}税务局", "class": "11"},
    {"code": "09", "kind": "自然资源", "levels": [2, 3, 4], "province": "江西省自然资源厅", "local": "{d}自然资源局", "class": "11"},
    {"code": "10", "kind": "住建", "levels": [2, 3, 4], "province": "江西省住房和城乡建设厅", "local": "{d}住房和城乡建设局", "class": "11"},
    {"code": "11", "kind": "交通运输", "levels": [2, 3, 4], "province": "江西省交通运输厅", "local": "{d}交通运输局", "class": "11"},
    {"code": "12", "kind": "公积金", "levels": [2, 3], "province": "江西省省直单位住房公积金管理中心", "local": "{d}住房公积金管理中心", "class": "12"},
    {"code": "13", "kind": "行政审批", "levels": [3, 4], "province": "", "local": "{d}行政审批局", "class": "11"},
    {"code": "14", "kind": "供电", "levels": [2, 3, 4], "province": "国网江西省电力有限公司", "local": "国网{d}供电公司", "class": "91"},
    {"code": "15", "kind": "退役军人", "levels": [2, 3, 4], "province": "江西省退役军人事务厅", "local": "{d}退役军人事务局", "class": "11"},
    {"code": "16", "kind": "司法", "levels": [2, 3, 4], "province": "江西省司法厅", "local": "{d}司法局", "class": "11"},
    {"code": "17", "kind": "残联", "levels": [2, 3, 4], "province": "江西省残疾人联合会", "local": "{d}残疾人联合会", "class": "51"},
    {"code": "18", "kind": "生态环境", "levels": [2, 3], "province": "江西省生态环境厅", "local": "{d}生态环境局", "class": "11"},
    {"code": "19", "kind": "文旅", "levels": [2, 3, 4], "province": "江西省文化和旅游厅", "local": "{d}文化广电新闻出版旅游局", "class": "11"},
    {"code": "20", "kind": "农业农村", "levels": [2, 3, 4], "province": "江西省农业农村厅", "local": "{d}农业农村局", "class": "11"},
    {"code": "21", "kind": "商务", "levels": [2, 3, 4], "province": "江西省商务厅", "local": "{d}商务局", "class": "11"},
    {"code": "22", "kind": "应急管理", "levels": [2, 3, 4], "province": "江西省应急管理厅", "local": "{d}应急管理局", "class": "11"},
    {"code": "23", "kind": "发展改革", "levels": [2, 3, 4], "province": "江西省发展和改革委员会", "local": "{d}发展和改革委员会", "class": "11"},
    {"code": "24", "kind": "水利", "levels": [2, 3, 4], "province": "江西省水利厅", "local": "{d}水利局", "class": "11"},
    {"code": "25", "kind": "药监", "levels": [2], "province": "江西省药品监督管理局", "local": "", "class": "11"},
    {"code": "26", "kind": "统计", "levels": [2, 3, 4], "province": "江西省统计局", "local": "{d}统计局", "class": "11"},
]

KIND_CODES = {str(k["kind"]): str(k["code"]) for k in KINDS}
