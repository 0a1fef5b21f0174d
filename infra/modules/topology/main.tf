# Reads the courier topology file and derives what every cloud module needs from it: the
# names the courier backends use, SNS filter policies and Service Bus SQL filters. It has
# no provider, so it can be evaluated offline (the infra checks do, with real Terraform).

locals {
  topology = yamldecode(file(var.topology_file))

  topic_list        = try(local.topology.topics, [])
  queue_list        = try(local.topology.queues, [])
  subscription_list = try(local.topology.subscriptions, [])

  topics = {
    for t in local.topic_list : t.name => {
      name                        = t.name
      fifo                        = try(t.fifo, false)
      content_based_deduplication = try(t.content_based_deduplication, false)
    }
  }

  # Every queue courier reads from: the topology's queues, and one per subscription.
  queues = merge(
    {
      for q in local.queue_list : q.name => {
        base                        = q.name
        topic                       = null
        subscription                = null
        fifo                        = try(q.fifo, false)
        content_based_deduplication = try(q.content_based_deduplication, false)
        max_receive_count           = try(q.max_receive_count, 5)
        visibility_timeout_secs     = try(q.visibility_timeout_secs, 30)
      }
    },
    {
      for s in local.subscription_list : "${s.topic}-${s.name}" => {
        base                        = "${s.topic}-${s.name}"
        topic                       = s.topic
        subscription                = s.name
        fifo                        = try(local.topics[s.topic].fifo, false)
        content_based_deduplication = false
        max_receive_count           = try(s.max_receive_count, 5)
        visibility_timeout_secs     = try(s.visibility_timeout_secs, 30)
      }
    },
  )

  # Filter keys `type`, `source`, `subject` test the event's CloudEvents attributes.
  filter_attribute = { type = "ce_type", source = "ce_source", subject = "ce_subject" }

  filters = {
    for s in local.subscription_list : "${s.topic}-${s.name}" => {
      for key, conditions in s.filter : lookup(local.filter_attribute, key, key) => conditions
    } if try(s.filter, null) != null
  }

  # SNS filter policies (attribute scope), as JSON.
  sns_filter_policies = { for k, f in local.filters : k => jsonencode(f) }

  # Service Bus SQL names of the filtered attributes (bracketed when not plain identifiers).
  sql_names = {
    for k, f in local.filters : k => {
      for attr, _ in f : attr => can(regex("^[A-Za-z_][A-Za-z0-9_]*$", attr)) ? attr : "[${attr}]"
    }
  }

  # Service Bus compares values with their types, with no conversion between strings and
  # numbers ("Subscription Rule SQL Filter Syntax"). courier sends every attribute as a
  # string property under its name and, when its value is a number, also as a Double under
  # courier_num_<name> (courier-azure `properties`): string conditions read the first,
  # numeric conditions (numbers, ranges, numbers anything-but excludes) the second.
  numeric_names = {
    for k, f in local.filters : k => {
      for attr, _ in f : attr => can(regex("^[A-Za-z0-9_]*$", attr)) ? "courier_num_${attr}" : "[courier_num_${attr}]"
    }
  }

  # Service Bus SQL filters: keys AND-ed, a key's conditions OR-ed. Every branch guards
  # its own access with try(): HCL evaluates both sides of a conditional. A prefix's `%`,
  # `_` and `\` are escaped, with `ESCAPE '\'` when there are any. anything-but: present,
  # none of the strings, and no number or none of the numbers.
  sql_filters = {
    for k, f in local.filters : k => join(" AND ", [
      for attr, conditions in f : format("(%s)", join(" OR ", [
        for c in conditions : (
          !can(keys(c)) ? (
            startswith(jsonencode(c), "\"")
            ? "${local.sql_names[k][attr]} = '${replace(try(tostring(c), ""), "'", "''")}'"
            : "${local.numeric_names[k][attr]} = ${jsonencode(c)}"
          )
          : can(c.prefix) ? (
            length(regexall("[%_\\\\]", try(c.prefix, ""))) > 0
            ? "${local.sql_names[k][attr]} LIKE '${replace(replace(replace(replace(try(c.prefix, ""), "\\", "\\\\"), "%", "\\%"), "_", "\\_"), "'", "''")}%' ESCAPE '\\'"
            : "${local.sql_names[k][attr]} LIKE '${replace(try(c.prefix, ""), "'", "''")}%'"
          )
          : can(c.exists) ? (try(c.exists, false) ? "EXISTS(${local.sql_names[k][attr]})" : "NOT EXISTS(${local.sql_names[k][attr]})")
          : can(c["anything-but"].prefix) ? (
            length(regexall("[%_\\\\]", try(c["anything-but"].prefix, ""))) > 0
            ? "${local.sql_names[k][attr]} NOT LIKE '${replace(replace(replace(replace(try(c["anything-but"].prefix, ""), "\\", "\\\\"), "%", "\\%"), "_", "\\_"), "'", "''")}%' ESCAPE '\\'"
            : "${local.sql_names[k][attr]} NOT LIKE '${replace(try(c["anything-but"].prefix, ""), "'", "''")}%'"
          )
          : can(c["anything-but"]) ? (
            length([for v in flatten([try(c["anything-but"], [])]) : v if !startswith(jsonencode(v), "\"")]) == 0
            ? format("%s NOT IN (%s)", local.sql_names[k][attr], join(", ", [
              for v in flatten([try(c["anything-but"], [])]) : "'${replace(try(tostring(v), ""), "'", "''")}'"
            ]))
            : length([for v in flatten([try(c["anything-but"], [])]) : v if startswith(jsonencode(v), "\"")]) == 0
            ? format("(%s IS NOT NULL AND (%s IS NULL OR %s NOT IN (%s)))",
              local.sql_names[k][attr], local.numeric_names[k][attr], local.numeric_names[k][attr],
            join(", ", [for v in flatten([try(c["anything-but"], [])]) : jsonencode(v)]))
            : format("(%s NOT IN (%s) AND (%s IS NULL OR %s NOT IN (%s)))",
              local.sql_names[k][attr],
              join(", ", [
                for v in flatten([try(c["anything-but"], [])]) : "'${replace(try(tostring(v), ""), "'", "''")}'" if startswith(jsonencode(v), "\"")
              ]),
              local.numeric_names[k][attr], local.numeric_names[k][attr],
            join(", ", [for v in flatten([try(c["anything-but"], [])]) : jsonencode(v) if !startswith(jsonencode(v), "\"")]))
          )
          : can(c.numeric) ? format("(%s)", join(" AND ", [
            for i in range(0, length(try(c.numeric, [])), 2) :
            "${local.numeric_names[k][attr]} ${try(c.numeric[i], "=")} ${jsonencode(try(c.numeric[i + 1], 0))}"
          ]))
          : "1 = 0"
        )
      ]))
    ])
  }

  # The one rule courier puts on every subscription (courier-azure `sql::rule_sql`):
  # Service Bus cannot send to a subscription, so a redrive sends to the topic with the
  # application property courier_to naming the subscription (lower case: entity names are
  # case-insensitive, SQL string equality is not). A subscription admits what is addressed
  # to it, and what is not addressed at all when its filter (if any) matches; `IS NULL` is
  # true for a property that does not exist ("Subscription Rule SQL Filter Syntax").
  rule_sql = {
    for s in local.subscription_list : "${s.topic}-${s.name}" => (
      contains(keys(local.sql_filters), "${s.topic}-${s.name}")
      ? "courier_to = '${replace(lower(s.name), "'", "''")}' OR (courier_to IS NULL AND ${try(local.sql_filters["${s.topic}-${s.name}"], "")})"
      : "courier_to = '${replace(lower(s.name), "'", "''")}' OR courier_to IS NULL"
    )
  }
}
