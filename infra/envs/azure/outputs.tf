output "endpoint" {
  description = "The namespace endpoint."
  value       = module.courier.endpoint
}

output "publisher_connection_strings" {
  description = "Send-only connection strings by entity."
  sensitive   = true
  value       = module.courier.publisher_connection_strings
}

output "consumer_connection_strings" {
  description = "Listen-only connection strings by entity."
  sensitive   = true
  value       = module.courier.consumer_connection_strings
}
