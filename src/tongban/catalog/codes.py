"""Code lists of STANDARDS.md kept as data: labels for the codes the catalogue stores."""

from __future__ import annotations

ITEM_TYPES = {
    "01": "行政许可",
    "02": "行政处罚",
    "03": "行政强制",
    "04": "行政征收",
    "05": "行政给付",
    "06": "行政检查",
    "07": "行政确认",
    "08": "行政奖励",
    "09": "行政裁决",
    "10": "其他行政权力",
    "20": "公共服务",
}
POWER_SOURCES = {1: "法定本级行使", 2: "上级下放", 3: "上级授权", 4: "同级授权", 5: "上级委托", 6: "同级委托"}
BODY_NATURES = {1: "法定机关", 2: "授权组织", 3: "受委托组织"}
CASE_TYPES = {1: "即办件", 2: "承诺件", 3: "联办件", 4: "上报件"}
SERVICE_OBJECTS = {1: "自然人", 2: "企业法人", 3: "事业法人", 4: "社会组织法人", 5: "非法人企业", 6: "行政机关", 9: "其他组织"}
LEVELS = {1: "国家级", 2: "省级", 3: "市级", 4: "县级", 5: "乡镇（街道）级", 6: "村（社区）级"}
ONLINE_DEPTHS = {1: "咨询", 2: "收件", 3: "预审", 4: "受理", 5: "办理", 6: "结果信息反馈", 7: "电子证照反馈", 8: "其他"}
LIMIT_UNITS = {1: "工作日", 2: "自然日", 3: "小时", 4: "分钟", 5: "月"}
HANDLING_FORMS = {"window": "窗口办理", "online": "网上办理", "post": "邮寄申请"}
MATERIAL_FORMS = {"paper": "纸质", "electronic": "电子", "both": "纸质或电子"}
MATERIAL_KINDS = {"original": "原件", "copy": "复印件", "original_and_copy": "原件和复印件"}
MATERIAL_SOURCES = {"applicant": "申请人自备", "government": "政府部门核发", "shared": "平台共享获取", "other": "其他"}
MATERIAL_NEED = {"required": "必要", "conditional": "情形必要", "optional": "非必要（容缺）"}
ZONE_KINDS = {
    "theme": "主题专区",
    "department": "部门专区",
    "enterprise": "企业专区",
    "certificate_free": "免证办专区",
    "no_visit": "不见面审批专区",
}
THEME_AUDIENCES = {"person": "个人", "enterprise": "法人"}

PERSON_OBJECTS = {1}
ENTERPRISE_OBJECTS = {2, 3, 4, 5, 9}
