"""Microsoft's own SDK (azure-servicebus) reads the rules courier provisioned: each
subscription named in COURIER_SB_EXPECTED_RULES (JSON: {"topic/subscription": "SQL"}) has
exactly one rule, courier's, a SqlRuleFilter whose expression is the expected text.

Run by courier-azure's tests/python_sdk_rules.rs after it provisioned; uses the client of
test_admin.py (same connection string and endpoint variables).
"""

import json
import os
import sys

from azure.servicebus.management import RuleProperties, SqlRuleFilter

from test_admin import client


def main():
    expected = json.loads(os.environ["COURIER_SB_EXPECTED_RULES"])
    sb = client()
    problems = []
    for path, sql in sorted(expected.items()):
        topic, subscription = path.split("/", 1)
        rules = sb.list_rules(topic, subscription)
        names = [r.name for r in rules]
        if names != ["courier-filter"]:
            problems.append("{}: rules {} (expected only courier-filter)".format(path, names))
            continue
        rule = sb.get_rule(topic, subscription, "courier-filter")
        if not isinstance(rule, RuleProperties) or not isinstance(rule.filter, SqlRuleFilter):
            problems.append("{}: {!r} is not a SQL rule".format(path, rule.filter))
        elif rule.filter.sql_expression != sql:
            problems.append("{}: {!r} != {!r}".format(path, rule.filter.sql_expression, sql))
    for p in problems:
        print(p, file=sys.stderr)
    print("rules checked with azure-servicebus: {}, problems: {}".format(len(expected), len(problems)))
    sys.exit(1 if problems or not expected else 0)


if __name__ == "__main__":
    main()
