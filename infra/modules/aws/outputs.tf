output "topic_arns" {
  description = "SNS topic ARNs by topology topic name."
  value       = { for k, t in aws_sns_topic.this : k => t.arn }
}

output "queue_urls" {
  description = "SQS queue URLs by queue key (topology queue name, or `<topic>-<subscription>`)."
  value       = { for k, q in aws_sqs_queue.this : k => q.url }
}

output "queue_arns" {
  description = "SQS queue ARNs by queue key."
  value       = { for k, q in aws_sqs_queue.this : k => q.arn }
}

output "dead_letter_queue_urls" {
  description = "Dead-letter queue URLs by queue key."
  value       = { for k, q in aws_sqs_queue.dlq : k => q.url }
}

output "dead_letter_queue_arns" {
  description = "Dead-letter queue ARNs by queue key."
  value       = { for k, q in aws_sqs_queue.dlq : k => q.arn }
}

output "function_arns" {
  description = "Lambda function ARNs by function name."
  value       = { for k, f in aws_lambda_function.this : k => f.arn }
}
