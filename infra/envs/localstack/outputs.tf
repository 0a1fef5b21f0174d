output "topic_arns" {
  description = "SNS topic ARNs."
  value       = module.courier.topic_arns
}

output "queue_urls" {
  description = "SQS queue URLs."
  value       = module.courier.queue_urls
}

output "dead_letter_queue_urls" {
  description = "Dead-letter queue URLs."
  value       = module.courier.dead_letter_queue_urls
}

output "function_arns" {
  description = "Lambda function ARNs."
  value       = module.courier.function_arns
}
