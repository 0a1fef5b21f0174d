# One alarm per dead-letter queue: anything there needs a person.

resource "aws_cloudwatch_metric_alarm" "dead_letters" {
  for_each = var.dead_letter_alarms ? local.queues : {}

  alarm_name          = "courier-${local.names.dead_letter_queue[each.key]}-not-empty"
  alarm_description   = "Messages are waiting in ${local.names.dead_letter_queue[each.key]}: read them with `courier receive --dlq`."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.dlq[each.key].name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags
}
