variable "topology_file" {
  description = "Path of the courier topology file (YAML). Topics, queues, subscriptions, filters and dead-letter settings all come from it."
  type        = string
}

variable "functions" {
  description = "Lambda functions to deploy, by function name: the subscription (`topic/name`) or queue it consumes, batch size and window, timeout, memory, extra environment. The zip is `<lambda_zip_dir>/<name>.zip`."
  type = map(object({
    subscription         = string
    batch_size           = optional(number, 10)
    batching_window_secs = optional(number, 0)
    timeout_secs         = optional(number, 5)
    memory_mb            = optional(number, 128)
    environment          = optional(map(string), {})
  }))
  default = {}

  validation {
    condition     = alltrue([for f in values(var.functions) : f.batch_size >= 1 && f.batch_size <= 10000])
    error_message = "batch_size must be between 1 and 10000."
  }
}

variable "lambda_zip_dir" {
  description = "Directory holding `<function>.zip` files, as scripts/package-lambdas.sh writes them (target/lambda)."
  type        = string
  default     = "../../../target/lambda"
}

variable "sns_kms_key_id" {
  description = "KMS key encrypting the SNS topics; the AWS-managed key by default."
  type        = string
  default     = "alias/aws/sns"
}

variable "log_retention_days" {
  description = "How long the functions' CloudWatch logs are kept."
  type        = number
  default     = 14
}

variable "dead_letter_alarms" {
  description = "Whether to create a CloudWatch alarm per dead-letter queue (not empty = alarm)."
  type        = bool
  default     = true
}

variable "alarm_actions" {
  description = "ARNs notified when a dead-letter alarm fires or clears (e.g. an SNS topic for the on-call)."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
