output "topics" {
  description = "Topics by topology name: name, fifo, content_based_deduplication."
  value       = local.topics
}

output "queues" {
  description = "Every queue courier reads from (the topology's queues and one per subscription, keyed `<topic>-<subscription>`): base name, topic, subscription, fifo, content_based_deduplication, max_receive_count, visibility_timeout_secs."
  value       = local.queues
}

output "sns_filter_policies" {
  description = "SNS filter policies (JSON, MessageAttributes scope) by subscription queue key."
  value       = local.sns_filter_policies
}

output "sql_filters" {
  description = "Service Bus SQL filter expressions by subscription queue key."
  value       = local.sql_filters
}

output "rule_sql" {
  description = "The SQL of the one rule courier puts on each Service Bus subscription (its filter and the address a redrive writes), by subscription queue key."
  value       = local.rule_sql
}

output "aws_names" {
  description = "The AWS names the courier backend uses: SNS topics, SQS queues and their dead-letter queues."
  value = {
    topics            = { for k, t in local.topics : k => t.fifo ? "${k}.fifo" : k }
    queues            = { for k, q in local.queues : k => q.fifo ? "${k}.fifo" : k }
    dead_letter_queue = { for k, q in local.queues : k => q.fifo ? "${k}-dlq.fifo" : "${k}-dlq" }
  }
}

output "azure_names" {
  description = "The Service Bus names: topics, queues, and subscriptions as `<topic>/<subscription>`."
  value = {
    topics        = sort(keys(local.topics))
    queues        = sort([for q in local.queue_list : q.name])
    subscriptions = sort([for s in local.subscription_list : "${s.topic}/${s.name}"])
  }
}
