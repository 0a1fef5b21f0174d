output "namespace_id" {
  description = "The Service Bus namespace's resource id."
  value       = azurerm_servicebus_namespace.this.id
}

output "endpoint" {
  description = "The namespace endpoint, for connection strings (`Endpoint=sb://…/`)."
  value       = azurerm_servicebus_namespace.this.endpoint
}

output "topic_ids" {
  description = "Topic resource ids by name."
  value       = { for k, t in azurerm_servicebus_topic.this : k => t.id }
}

output "queue_ids" {
  description = "Queue resource ids by name."
  value       = { for k, q in azurerm_servicebus_queue.this : k => q.id }
}

output "subscription_ids" {
  description = "Subscription resource ids by `<topic>-<subscription>`."
  value       = { for k, s in azurerm_servicebus_subscription.this : k => s.id }
}

output "publisher_connection_strings" {
  description = "Send-only connection strings by topic or queue name."
  sensitive   = true
  value = merge(
    { for k, r in azurerm_servicebus_topic_authorization_rule.publisher : k => r.primary_connection_string },
    { for k, r in azurerm_servicebus_queue_authorization_rule.publisher : k => r.primary_connection_string },
  )
}

output "consumer_connection_strings" {
  description = "Listen-only connection strings by topic or queue name."
  sensitive   = true
  value = merge(
    { for k, r in azurerm_servicebus_topic_authorization_rule.consumer : k => r.primary_connection_string },
    { for k, r in azurerm_servicebus_queue_authorization_rule.consumer : k => r.primary_connection_string },
  )
}
